/**
 * A band halved k times exactly as dzsave halves a pyramid level, written losslessly: the input
 * of the assembling job (band-plan.ts). dzsave's step is the mean of each 2x2 block, (a+b+c+d+2)>>2
 * for 8-bit pixels, with the last column and row copied when a side is odd. libvips' own `shrink`
 * rounds twice (columns, then rows) and differs by 1 in places, so each step is built from
 * operations whose arithmetic is exact: copy-extend to even sides, float, shrink (a float mean of
 * 2x2 quarter-multiples is exact), +0.5, floor, back to 8 bits; with alpha, see halving(). test/tiling-band.test.ts compares
 * the result with dzsave's own level, losslessly.
 *
 * sharp cannot chain these (its pipeline has a fixed order), so they go through vips-ffi.ts.
 */
import { vipsFfi, type Pointer, type VipsFfi } from './vips-ffi.js';

/** One operation of the chain: its name and its options in libvips' string form. */
interface Step {
  name: string;
  options: string;
}

/** The operations of one halving of a width x height image. */
function halving(width: number, height: number, alpha: boolean): Step[] {
  const even: Step = { name: 'embed', options: `x=0,y=0,width=${width + (width % 2)},height=${height + (height % 2)},extend=copy` };
  const shrink: Step = { name: 'shrink', options: 'hshrink=2,vshrink=2' };
  const to8bits: Step[] = [{ name: 'round', options: 'round=floor' }, { name: 'cast', options: 'format=uchar' }];
  if (!alpha) return [even, { name: 'cast', options: 'format=float' }, shrink, { name: 'linear', options: 'a=1,b=0.5' }, ...to8bits];
  // With alpha, dzsave weights each colour by its alpha, in double, and truncates: colour =
  // floor(sum(a*c) / sum(a)), alpha = floor(sum(a) / 4), all 0 where sum(a) is 0. Premultiplied
  // means in double give that quotient within 1e-12; a non-integer quotient is at least 1/1020
  // from the next integer, so adding 1e-6 before the floor makes it exact either way.
  return [
    even,
    { name: 'cast', options: 'format=double' },
    { name: 'premultiply', options: 'max_alpha=255' },
    shrink,
    { name: 'unpremultiply', options: 'max_alpha=255' },
    { name: 'linear', options: 'a=1,b=0.000001' },
    ...to8bits,
  ];
}

/**
 * Reads `input` (an uncompressed 8-bit image file, top to bottom), halves it `shrinks` times as
 * dzsave would and writes the result to `output` as PNG (fast compression: it is read once).
 */
export async function writeLevelImage(input: string, size: { width: number; height: number; alpha: boolean }, shrinks: number, output: string): Promise<void> {
  const vips = vipsFfi();
  if (!vips) throw new Error('the level image needs libvips through koffi, which did not load');
  const steps: Step[] = [];
  for (let s = 0, w = size.width, h = size.height; s < shrinks; s++, w = Math.ceil(w / 2), h = Math.ceil(h / 2)) steps.push(...halving(w, h, size.alpha));
  const built: Pointer[] = [];
  try {
    let previous: Pointer = null;
    for (const step of [...steps, { name: 'pngsave', options: 'compression=1,filter=none,keep=none' }]) {
      const op = vips.operationNew(step.name);
      if (!op) throw failure(vips, `vips_operation_new(${step.name}) failed`);
      const ok =
        (previous === null ? vips.setArgument(op, 'in', `${input}[access=sequential,fail_on=truncated]`) === 0 : (vips.copyImageProperty(previous, 'out', op, 'in'), true)) &&
        (step.name !== 'pngsave' || vips.setArgument(op, 'filename', output) === 0) &&
        vips.setFromString(op, step.options) === 0;
      const done = ok ? await vips.buildCached(op) : null;
      if (!done) vips.unrefOutputs(op);
      vips.unref(op);
      if (!done) throw failure(vips, `${step.name} failed`);
      built.push(done);
      previous = done;
    }
  } finally {
    for (const op of built.reverse()) {
      vips.unrefOutputs(op);
      vips.unref(op);
    }
    vips.emptyOperationCache();
  }
}

function failure(vips: VipsFfi, fallback: string): Error {
  const message = vips.errorBuffer().trim() || fallback;
  vips.errorClear();
  return new Error(message);
}
