/**
 * The version in package.json, for `hugemap --version`. Resolved through the
 * package's own "exports" entry, so it is found from cli/ (run by tsx) and
 * from dist/cli/ (the installed bin) alike.
 */
import { createRequire } from 'node:module';

export function packageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('hugemap/package.json') as { version: string }).version;
}
