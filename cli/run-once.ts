/** Runs a one-shot command (reconcile, s3 setup): any failure prints one line with its code, never a stack, and exits 1. */
import { toHugemapError } from '../shared/errors.js';

export async function runOnce(name: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const e = toHugemapError(err);
    process.stderr.write(`hugemap ${name}: ${e.code}: ${(e.message.split('\n')[0] ?? '').slice(0, 500)}\n`);
    process.exitCode = 1;
  }
}
