/** Named sizes that are always allowed (no signature needed). Configurable with SCALE_PRESETS. */
import { ConfigError } from '../../shared/errors.js';
import { parseSizeSpec, type SizeSpec } from './size-spec.js';

export const DEFAULT_PRESETS = 'thumb=150x150,small=320x320,medium=640x640,large=1280x1280,square=150x150!';

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** `name=spec,...`; throws ConfigError naming the bad entry. */
export function parsePresets(raw: string | undefined = DEFAULT_PRESETS): ReadonlyMap<string, SizeSpec> {
  const presets = new Map<string, SizeSpec>();
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [name = '', spec = ''] = entry.split('=').map((x) => x.trim());
    const parsed = parseSizeSpec(spec);
    if (!NAME.test(name) || name === 'o' || !parsed) {
      throw new ConfigError(`invalid configuration: SCALE_PRESETS: "${entry}" is not name=WxH, name=WxH! or name=o (names: lower-case letters, digits, _ and -)`);
    }
    presets.set(name, parsed);
  }
  return presets;
}
