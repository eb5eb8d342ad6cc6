/**
 * Which sizes a request may ask for. Presets always; anything else needs a
 * valid `?s=` signature when SIGNING_KEY is set (else anyone knowing an id
 * could make the server render and cache endless sizes), and no side may
 * exceed SCALE_MAX_DIMENSION. Returns the resolved spec or throws 400/403.
 */
import type { Config } from '../../shared/config.js';
import { BadRequestError, BadSignatureError } from '../../shared/errors.js';
import { isValidSignature } from '../../shared/scaled-signature.js';
import { parsePresets } from './presets.js';
import { parseSizeSpec, type SizeSpec } from './size-spec.js';

export class SizePolicy {
  readonly presets: ReadonlyMap<string, SizeSpec>;

  constructor(private readonly config: Pick<Config, 'signingKey' | 'scale'>) {
    this.presets = parsePresets(config.scale.presets ?? undefined);
  }

  /** Syntax and limits only (no signature): for metadata endpoints that render nothing. */
  parse(size: string): SizeSpec {
    const preset = this.presets.get(size);
    if (preset) return preset;
    const spec = parseSizeSpec(size);
    if (!spec) throw new BadRequestError(`malformed size "${size.slice(0, 40)}": use o, WxH, WxH! or a preset (${[...this.presets.keys()].join(', ')})`);
    const max = this.config.scale.maxDimension;
    if (spec.kind !== 'original' && (spec.width > max || spec.height > max)) {
      throw new BadRequestError(`size ${size} exceeds the maximum of ${max} pixels per side`);
    }
    return spec;
  }

  /** For rendering: also checks the signature of non-preset sizes. */
  authorize(size: string, id: string, signature: unknown): SizeSpec {
    const spec = this.parse(size);
    if (this.presets.has(size) || spec.kind === 'original' || !this.config.signingKey) return spec;
    if (!isValidSignature(this.config.signingKey, size, id, signature)) {
      throw new BadSignatureError(`size ${size} is not a preset and needs a valid ?s= signature`);
    }
    return spec;
  }

  /** Signs `size` when needed (for links the API builds itself, e.g. the <img> tag). */
  needsSignature(size: string): boolean {
    return !this.presets.has(size) && size !== 'o' && this.config.signingKey !== undefined;
  }
}
