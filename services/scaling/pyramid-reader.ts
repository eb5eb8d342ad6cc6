/**
 * Reads pixels of a finished image from its stored Deep Zoom pyramid instead
 * of the original: any region at any level is stitched from the few 256 px
 * tiles that cover it, so memory depends on the region asked for, never on
 * the size of the (possibly gigapixel) original.
 */
import sharp, { type Sharp } from 'sharp';
import { deepZoomLevels, type PyramidLevel } from '../../shared/tiling/pyramid.js';
import { imageKeys } from '../../shared/image-status.js';
import type { S3Store } from '../../shared/storage/s3-store.js';
import { runPool } from '../../shared/storage/run-pool.js';

export interface StoredPyramid {
  id: string;
  width: number;
  height: number;
  tileSize: number;
  format: 'jpeg' | 'png' | 'webp';
}

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function pyramidLevels(p: StoredPyramid): PyramidLevel[] {
  return deepZoomLevels(p.width, p.height, p.tileSize);
}

/**
 * The smallest level that still has at least 1/`downscale` of full resolution,
 * i.e. shrinking by 2^k with 2^k <= downscale. Returns the level and its factor.
 */
export function levelFor(p: StoredPyramid, downscale: number): { level: PyramidLevel; factor: number } {
  const levels = pyramidLevels(p);
  const top = levels.length - 1;
  let k = 0;
  while (k < top && 2 ** (k + 1) <= downscale + 1e-9) k++;
  return { level: levels[top - k]!, factor: 2 ** k };
}

/**
 * The smallest level at which `region` (full-resolution pixels) still covers
 * at least `out` pixels, with the region in that level's pixels (edges
 * rounded outwards). Exact for tile-aligned requests, so they map onto tiles.
 * A small region of a gigapixel image so costs a few tiles of a deep level,
 * and a small output of a large region a few tiles of a shallow one.
 */
export function levelForRegion(
  p: StoredPyramid,
  region: { x: number; y: number; w: number; h: number },
  out: { width: number; height: number },
): { level: PyramidLevel; factor: number; rect: Rect } {
  const levels = pyramidLevels(p);
  const top = levels.length - 1;
  for (let k = top; k >= 0; k--) {
    const level = levels[top - k]!;
    const factor = 2 ** k;
    const left = Math.floor(region.x / factor);
    const upper = Math.floor(region.y / factor);
    const rect = {
      left,
      top: upper,
      width: Math.max(1, Math.min(level.width, Math.ceil((region.x + region.w) / factor)) - left),
      height: Math.max(1, Math.min(level.height, Math.ceil((region.y + region.h) / factor)) - upper),
    };
    if (rect.width >= out.width && rect.height >= out.height) return { level, factor, rect };
  }
  // Upscaling (IIIF ^): no level has enough pixels, so the full-resolution one.
  const factor = 1;
  const level = levels[top]!;
  const rect = {
    left: region.x,
    top: region.y,
    width: Math.max(1, Math.min(level.width, region.x + region.w) - region.x),
    height: Math.max(1, Math.min(level.height, region.y + region.h) - region.y),
  };
  return { level, factor, rect };
}

/** How many stored tiles a rectangle of one level covers: what a render fetches. */
export function tilesCovering(p: StoredPyramid, rect: Rect): number {
  const t = p.tileSize;
  const cols = Math.floor((rect.left + rect.width - 1) / t) - Math.floor(rect.left / t) + 1;
  const rows = Math.floor((rect.top + rect.height - 1) / t) - Math.floor(rect.top / t) + 1;
  return cols * rows;
}

export function tileKey(p: StoredPyramid, level: number, col: number, row: number): string {
  return `${imageKeys.prefix(p.id)}image_files/${level}/${col}_${row}.${p.format}`;
}

export async function readTile(s3: S3Store, key: string): Promise<Buffer> {
  const { stream } = await s3.getStream(key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * `rect` (the level's own pixels, inside the level) as a lazy libvips image:
 * the covering tiles are fetched (compressed, a few KiB each), joined in a
 * grid (arrayjoin) and cropped. Nothing is decoded until the caller's
 * pipeline pulls pixels, and then only strip by strip.
 */
export async function levelRegion(s3: S3Store, p: StoredPyramid, level: PyramidLevel, rect: Rect): Promise<Sharp> {
  const t = p.tileSize;
  const cols = range(Math.floor(rect.left / t), Math.floor((rect.left + rect.width - 1) / t));
  const rows = range(Math.floor(rect.top / t), Math.floor((rect.top + rect.height - 1) / t));
  // Row-major, as arrayjoin lays them out.
  const cells = rows.flatMap((row) => cols.map((col) => ({ col, row })));
  const tiles = new Array<Buffer>(cells.length);
  await runPool(
    cells.map((cell, i) => ({ ...cell, i })),
    8,
    async ({ col, row, i }) => {
      tiles[i] = await readTile(s3, tileKey(p, level.level, col, row));
    },
  );
  const crop = { left: rect.left - cols[0]! * t, top: rect.top - rows[0]! * t, width: rect.width, height: rect.height };
  // Edge tiles are smaller than t: each sits top-left in its t x t cell, and the crop never reaches the filler.
  const joined = tiles.length === 1 ? sharp(tiles[0]!) : sharp(tiles, { join: { across: cols.length, halign: 'left', valign: 'top' } });
  return joined.extract(crop);
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}
