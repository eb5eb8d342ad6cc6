/**
 * The size part of `/i/{size}/{id}.{ext}`:
 *   `o`      the original bytes, untouched;
 *   `WxH`    fit inside W x H keeping the aspect ratio, never enlarging;
 *   `WxH!`   exactly W x H: scaled to cover the box (enlarging small images) and centre-cropped;
 *   a preset name (`thumb`, ...), which stands for one of the above.
 * Pure: parsing and the output dimensions, so that `/scaled-dimensions` and
 * the image itself can never disagree.
 */
export type SizeSpec =
  | { kind: 'original' }
  | { kind: 'fit'; width: number; height: number }
  | { kind: 'fill'; width: number; height: number };

const BOX = /^([1-9]\d{0,4})x([1-9]\d{0,4})(!?)$/;

/** null when `text` is not `o`, `WxH` or `WxH!` (presets are resolved by the caller). */
export function parseSizeSpec(text: string): SizeSpec | null {
  if (text === 'o') return { kind: 'original' };
  const m = BOX.exec(text);
  if (!m) return null;
  return { kind: m[3] === '!' ? 'fill' : 'fit', width: Number(m[1]), height: Number(m[2]) };
}

/** The one spelling of a spec: cache keys and signatures use it. */
export function formatSizeSpec(spec: SizeSpec): string {
  if (spec.kind === 'original') return 'o';
  return `${spec.width}x${spec.height}${spec.kind === 'fill' ? '!' : ''}`;
}

/** What `spec` makes of an image of `width` x `height` (after EXIF orientation). */
export function scaledDimensions(width: number, height: number, spec: SizeSpec): { width: number; height: number } {
  if (spec.kind === 'original') return { width, height };
  if (spec.kind === 'fill') return { width: spec.width, height: spec.height };
  if (width <= spec.width && height <= spec.height) return { width, height };
  const scale = Math.min(spec.width / width, spec.height / height);
  return {
    width: Math.min(spec.width, Math.max(1, Math.round(width * scale))),
    height: Math.min(spec.height, Math.max(1, Math.round(height * scale))),
  };
}

/**
 * The pixels of the source needed per output pixel's worth of detail: the
 * output is a downscale by this factor (below 1 means enlarging).
 */
export function downscaleFactor(width: number, height: number, spec: SizeSpec): number {
  if (spec.kind === 'original') return 1;
  const out = scaledDimensions(width, height, spec);
  if (spec.kind === 'fit') return Math.min(width / out.width, height / out.height);
  // Cover: the smaller ratio is the axis that is not cropped.
  return Math.min(width / spec.width, height / spec.height);
}
