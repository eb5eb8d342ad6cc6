/**
 * The thumbnail is assembled from the pyramid itself (the smallest level at
 * least 256 px on its longest side: at most 2x2 tiles) instead of decoding the
 * source again, which for a gigapixel image would cost a second full pass.
 */
import { join } from 'node:path';
import sharp, { type OverlayOptions } from 'sharp';
import { DEFAULT_TILE_SIZE, type PyramidLevel } from './pyramid.js';
import type { TileFormat } from './encoders.js';

export const THUMBNAIL_SIZE = 256;

export function thumbnailSourceLevel(levels: PyramidLevel[]): PyramidLevel {
  const top = levels[levels.length - 1];
  if (!top) throw new RangeError('empty pyramid');
  return levels.find((l) => Math.max(l.width, l.height) >= THUMBNAIL_SIZE) ?? top;
}

/** Longest side 256 px (never enlarged past the image itself); alpha flattened on white. */
export async function writeThumbnail(
  tilesDir: string,
  levels: PyramidLevel[],
  format: TileFormat,
  outPath: string,
): Promise<{ width: number; height: number }> {
  const level = thumbnailSourceLevel(levels);
  const tiles: OverlayOptions[] = [];
  for (let row = 0; row < level.rows; row++) {
    for (let col = 0; col < level.cols; col++) {
      tiles.push({
        input: join(tilesDir, String(level.level), `${col}_${row}.${format}`),
        left: col * DEFAULT_TILE_SIZE,
        top: row * DEFAULT_TILE_SIZE,
      });
    }
  }
  const canvas = await sharp({ create: { width: level.width, height: level.height, channels: 4, background: '#ffffff' } })
    .composite(tiles)
    .png({ compressionLevel: 0 })
    .toBuffer();
  const info = await sharp(canvas)
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .jpeg({ quality: 85, mozjpeg: true })
    .toFile(outPath);
  return { width: info.width, height: info.height };
}
