/**
 * Adam7 arithmetic: where each of the seven passes' pixels sit, undoing PNG
 * row filters, and scattering a pass row into an output row. Pure functions
 * on buffers; png-deinterlace.ts does the I/O.
 */
import { bitsPerPixel, type PngHeader } from './png-chunks.js';

export interface Adam7Pass {
  xStart: number;
  yStart: number;
  xStep: number;
  yStep: number;
  /** Pixels per row and rows in this pass; either may be 0 for small images (the pass is then absent from the data). */
  width: number;
  height: number;
  /** Bytes of one unfiltered row, without the filter-type byte. */
  rowBytes: number;
}

const ADAM7: ReadonlyArray<readonly [number, number, number, number]> = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

export function adam7Passes(h: PngHeader): Adam7Pass[] {
  const bits = bitsPerPixel(h);
  return ADAM7.map(([xStart, yStart, xStep, yStep]) => {
    const width = h.width > xStart ? Math.ceil((h.width - xStart) / xStep) : 0;
    const height = h.height > yStart ? Math.ceil((h.height - yStart) / yStep) : 0;
    return { xStart, yStart, xStep, yStep, width, height, rowBytes: Math.ceil((width * bits) / 8) };
  });
}

export function isEmpty(pass: Adam7Pass): boolean {
  return pass.width === 0 || pass.height === 0;
}

/** Indexes of the non-empty passes holding pixels of output row y (they cover the whole row between them). */
export function passesForRow(passes: readonly Adam7Pass[], y: number): number[] {
  const found: number[] = [];
  passes.forEach((p, i) => {
    if (!isEmpty(p) && y >= p.yStart && (y - p.yStart) % p.yStep === 0) found.push(i);
  });
  return found;
}

/**
 * Undoes one row's filter in place. `bpp` is bytes per complete pixel, at
 * least 1 (the PNG rule for sub-byte depths); `prev` is the previous row of
 * the same pass, unfiltered, all zero for its first row. Returns false for an
 * unknown filter type.
 */
export function unfilterRow(filter: number, row: Uint8Array, prev: Uint8Array, bpp: number): boolean {
  const n = row.length;
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (let i = bpp; i < n; i++) row[i] = row[i]! + row[i - bpp]!;
      return true;
    case 2:
      for (let i = 0; i < n; i++) row[i] = row[i]! + prev[i]!;
      return true;
    case 3:
      for (let i = 0; i < bpp && i < n; i++) row[i] = row[i]! + (prev[i]! >> 1);
      for (let i = bpp; i < n; i++) row[i] = row[i]! + ((row[i - bpp]! + prev[i]!) >> 1);
      return true;
    case 4:
      for (let i = 0; i < bpp && i < n; i++) row[i] = row[i]! + prev[i]!;
      for (let i = bpp; i < n; i++) {
        const a = row[i - bpp]!;
        const b = prev[i]!;
        const c = prev[i - bpp]!;
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        row[i] = row[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      return true;
    default:
      return false;
  }
}

/**
 * Copies the pixels of one unfiltered pass row to their places in an output
 * row (`out` starts at the output row's first pixel byte). For sub-byte depths
 * the output row must be zeroed first: pixels are OR-ed in.
 */
export function scatterRow(src: Uint8Array, pass: Adam7Pass, out: Uint8Array, bits: number): void {
  const { width, xStart, xStep } = pass;
  if (bits < 8) {
    const mask = (1 << bits) - 1;
    for (let i = 0, x = xStart; i < width; i++, x += xStep) {
      const si = i * bits;
      const v = (src[si >> 3]! >> (8 - bits - (si & 7))) & mask;
      const di = x * bits;
      out[di >> 3] = out[di >> 3]! | (v << (8 - bits - (di & 7)));
    }
    return;
  }
  const bpp = bits >> 3;
  if (xStep === 1) {
    out.set(src.subarray(0, width * bpp), xStart * bpp);
    return;
  }
  const stride = xStep * bpp;
  if (bpp === 3) {
    for (let s = 0, d = xStart * 3; s < width * 3; s += 3, d += stride) {
      out[d] = src[s]!;
      out[d + 1] = src[s + 1]!;
      out[d + 2] = src[s + 2]!;
    }
    return;
  }
  for (let s = 0, d = xStart * bpp; s < width * bpp; s += bpp, d += stride) {
    for (let k = 0; k < bpp; k++) out[d + k] = src[s + k]!;
  }
}
