/**
 * Visual quality of a tile set: SSIM of the top-level tiles against the source pixels.
 * The top level holds about 3/4 of all tiles and bytes, and is where compression shows.
 *
 * SSIM (Wang et al. 2004) on luma (BT.601), 8x8 windows with stride 4 and the usual
 * constants (K1 0.01, K2 0.03, L 255): the mean over windows, then the mean over tiles.
 * Tiles are sampled on a regular grid (every k-th column and row) so a 236 MP image
 * needs a few hundred tiles, not thousands.
 */
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { deepZoomLevels } from '../shared/tiling/pyramid.js';

const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;
const WIN = 8;
const STRIDE = 4;

/** SSIM of two same-sized luma planes. */
export function ssim(a: Uint8Array, b: Uint8Array, width: number, height: number): number {
  if (a.length !== width * height || b.length !== width * height) throw new RangeError('plane size mismatch');
  let total = 0;
  let windows = 0;
  const n = WIN * WIN;
  for (let y = 0; y + WIN <= height; y += STRIDE) {
    for (let x = 0; x + WIN <= width; x += STRIDE) {
      let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
      for (let j = 0; j < WIN; j++) {
        let i = (y + j) * width + x;
        for (let k = 0; k < WIN; k++, i++) {
          const va = a[i]!;
          const vb = b[i]!;
          sa += va; sb += vb; saa += va * va; sbb += vb * vb; sab += va * vb;
        }
      }
      const ma = sa / n;
      const mb = sb / n;
      const va = saa / n - ma * ma;
      const vb = sbb / n - mb * mb;
      const cov = sab / n - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      windows++;
    }
  }
  return windows === 0 ? 1 : total / windows;
}

async function luma(img: Sharp): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await img.toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`expected 1 channel, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/**
 * Mean SSIM of sampled top-level tiles in `filesDir` (a Deep Zoom `image_files` folder, 256 px
 * tiles, no overlap, extension `ext`) against `source` (an upright image of the same size).
 */
export async function tileSetSsim(source: string, filesDir: string, ext: string, maxTiles = 300): Promise<{ ssim: number; tiles: number }> {
  const meta = await sharp(source).metadata();
  const levels = deepZoomLevels(meta.width, meta.height);
  const top = levels[levels.length - 1]!;
  const step = Math.max(1, Math.ceil(Math.sqrt((top.cols * top.rows) / maxTiles)));
  // One decode of the source into memory (raw luma: 1 byte/pixel) beats re-decoding a JPEG per tile.
  const src = await luma(sharp(source, { limitInputPixels: false }));
  let sum = 0;
  let tiles = 0;
  for (let col = 0; col < top.cols; col += step) {
    for (let row = 0; row < top.rows; row += step) {
      const tile = await luma(sharp(join(filesDir, String(top.level), `${col}_${row}.${ext}`)));
      const ref = new Uint8Array(tile.width * tile.height);
      for (let y = 0; y < tile.height; y++) {
        const from = (row * 256 + y) * src.width + col * 256;
        ref.set(src.data.subarray(from, from + tile.width), y * tile.width);
      }
      sum += ssim(ref, tile.data, tile.width, tile.height);
      tiles++;
    }
  }
  return { ssim: sum / tiles, tiles };
}
