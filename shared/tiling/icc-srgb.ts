/**
 * Is an embedded ICC profile just sRGB? Most photos that carry a profile carry
 * sRGB itself (cameras, phones, every "save for web"). Converting such an
 * image "to sRGB" is an identity that still costs lcms a lookup per pixel: on
 * a 236 MP photo, 5 of the tiler's 16 CPU-seconds (docs/memory.md). So when
 * the profile is sRGB by its content, the tiler takes the pixels as they are.
 *
 * "By its content", not by its name: an RGB matrix/TRC profile whose three
 * colorants are sRGB's (D50-adapted, as every ICC profile stores them) and
 * whose three tone curves are the sRGB curve, as a sampled table (`curv`, the
 * classic 3144-byte HP profile) or as the parametric function (`para`, v4
 * profiles). Anything else, a LUT-based profile included (lcms would prefer
 * its A2B tables to the matrix), is converted as before.
 */

/** sRGB primaries adapted to D50 (Bradford), as stored in rXYZ/gXYZ/bXYZ. */
const SRGB_COLORANTS: Readonly<Record<'rXYZ' | 'gXYZ' | 'bXYZ', readonly [number, number, number]>> = {
  rXYZ: [0.4361, 0.2225, 0.0139],
  gXYZ: [0.3851, 0.7169, 0.0971],
  bXYZ: [0.1431, 0.0606, 0.7141],
};
/** Profiles round colorants differently (s15Fixed16, several adaptation matrices); 8-bit pixels cannot tell these apart. */
const COLORANT_TOLERANCE = 0.002;
/** Largest difference from the sRGB curve, as a fraction of full scale: under half an 8-bit step. */
const CURVE_TOLERANCE = 0.5 / 255;
const LUT_TAGS = ['A2B0', 'A2B1', 'A2B2', 'B2A0', 'B2A1', 'B2A2', 'D2B0', 'D2B1', 'D2B2', 'D2B3'];

/** The sRGB transfer function (encoded value 0..1 to linear light 0..1). */
function srgbToLinear(v: number): number {
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

interface Tag {
  offset: number;
  size: number;
}

function readTags(icc: Buffer): Map<string, Tag> | null {
  if (icc.length < 132 || icc.readUInt32BE(0) > icc.length) return null;
  const count = icc.readUInt32BE(128);
  if (count > 100 || 132 + count * 12 > icc.length) return null;
  const tags = new Map<string, Tag>();
  for (let i = 0; i < count; i++) {
    const at = 132 + i * 12;
    const offset = icc.readUInt32BE(at + 4);
    const size = icc.readUInt32BE(at + 8);
    if (offset + size > icc.length || size < 8) return null;
    tags.set(icc.toString('latin1', at, at + 4), { offset, size });
  }
  return tags;
}

function colorantMatches(icc: Buffer, tag: Tag | undefined, want: readonly [number, number, number]): boolean {
  if (!tag || tag.size < 20 || icc.toString('latin1', tag.offset, tag.offset + 4) !== 'XYZ ') return false;
  return want.every((w, i) => Math.abs(icc.readInt32BE(tag.offset + 8 + 4 * i) / 65536 - w) <= COLORANT_TOLERANCE);
}

function curveMatches(icc: Buffer, tag: Tag | undefined): boolean {
  if (!tag) return false;
  const type = icc.toString('latin1', tag.offset, tag.offset + 4);
  if (type === 'curv') {
    const n = icc.readUInt32BE(tag.offset + 8);
    // 0 entries is the identity and 1 a pure gamma: neither is the sRGB curve.
    if (n < 2 || 12 + 2 * n > tag.size) return false;
    for (let i = 0; i < n; i++) {
      const got = icc.readUInt16BE(tag.offset + 12 + 2 * i) / 65535;
      if (Math.abs(got - srgbToLinear(i / (n - 1))) > CURVE_TOLERANCE) return false;
    }
    return true;
  }
  if (type === 'para') {
    const fn = icc.readUInt16BE(tag.offset + 8);
    const params = fn === 3 ? 5 : fn === 4 ? 7 : 0;
    if (params === 0 || 12 + 4 * params > tag.size) return false;
    const p = Array.from({ length: params }, (_, i) => icc.readInt32BE(tag.offset + 12 + 4 * i) / 65536);
    // Y = (aX + b)^g for X >= d, cX below (+ e, f offsets in type 4, which must be 0).
    const want = [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045, 0, 0];
    return p.every((v, i) => Math.abs(v - want[i]!) <= (i === 0 ? 0.01 : 0.001));
  }
  return false;
}

export function isSrgbProfile(icc: Buffer | undefined): boolean {
  if (!icc) return false;
  if (icc.length < 132 || icc.toString('latin1', 16, 20) !== 'RGB ' || icc.toString('latin1', 20, 24) !== 'XYZ ') return false;
  const tags = readTags(icc);
  if (!tags || LUT_TAGS.some((t) => tags.has(t))) return false;
  return (
    (Object.keys(SRGB_COLORANTS) as Array<keyof typeof SRGB_COLORANTS>).every((t) => colorantMatches(icc, tags.get(t), SRGB_COLORANTS[t])) &&
    ['rTRC', 'gTRC', 'bTRC'].every((t) => curveMatches(icc, tags.get(t)))
  );
}
