/**
 * Deep Zoom geometry, pure arithmetic. This is the contract the tiles on disk
 * (written by libvips' dzsave) and every consumer (worker upload, viewer) agree
 * on; tests check that libvips produces exactly these levels and tiles.
 *
 * Level 0 is 1x1; each level above doubles; the top level is the full image.
 * A level's size is ceil(size / 2^(maxLevel - level)), which equals halving
 * with rounding up once per level, as dzsave does.
 */
export interface PyramidLevel {
  level: number;
  width: number;
  height: number;
  cols: number;
  rows: number;
}

export const DEFAULT_TILE_SIZE = 256;

/** The window a first view is made for: the whole image, sharp, in a viewer this many pixels across. */
export const FIRST_VIEW_PX = 1024;

/**
 * The levels a viewer needs to show the whole image sharply in a FIRST_VIEW_PX window:
 * 0..L, L being the first level at least that large on its longer side (all, for a smaller image).
 */
export function firstViewLevels(levels: readonly PyramidLevel[]): PyramidLevel[] {
  const last = levels.findIndex((l) => Math.max(l.width, l.height) >= FIRST_VIEW_PX);
  return levels.slice(0, last === -1 ? levels.length : last + 1);
}

/** L itself: the highest of the first-view levels of a width x height image (the preview's size). */
export function firstViewLevel(width: number, height: number, tileSize = DEFAULT_TILE_SIZE): PyramidLevel {
  return firstViewLevels(deepZoomLevels(width, height, tileSize)).at(-1)!;
}

/** Whether `rowsDone` (a count of leading rows per level, as in the upload checkpoint) covers every row of these levels. */
export function levelsComplete(rowsDone: readonly number[], levels: readonly PyramidLevel[]): boolean {
  return levels.every((l) => (rowsDone[l.level] ?? 0) >= l.rows);
}

export function maxLevelFor(width: number, height: number): number {
  assertDimensions(width, height);
  // Integer loop instead of Math.log2: floating point rounding must not move a level boundary.
  let level = 0;
  for (let side = Math.max(width, height); side > 1; side = Math.ceil(side / 2)) level++;
  return level;
}

export function deepZoomLevels(width: number, height: number, tileSize = DEFAULT_TILE_SIZE): PyramidLevel[] {
  if (!Number.isInteger(tileSize) || tileSize < 1) throw new RangeError(`tile size must be a positive integer, got ${tileSize}`);
  const maxLevel = maxLevelFor(width, height);
  const levels: PyramidLevel[] = [];
  for (let level = 0; level <= maxLevel; level++) {
    const scale = 2 ** (maxLevel - level);
    const w = Math.ceil(width / scale);
    const h = Math.ceil(height / scale);
    levels.push({ level, width: w, height: h, cols: Math.ceil(w / tileSize), rows: Math.ceil(h / tileSize) });
  }
  return levels;
}

export function tileCount(levels: PyramidLevel[]): number {
  return levels.reduce((sum, l) => sum + l.cols * l.rows, 0);
}

/** The size of one tile: edge tiles are cut to the image, never padded (overlap 0). */
export function tileSizeAt(level: PyramidLevel, col: number, row: number, tileSize = DEFAULT_TILE_SIZE): { width: number; height: number } {
  return {
    width: Math.min(tileSize, level.width - col * tileSize),
    height: Math.min(tileSize, level.height - row * tileSize),
  };
}

/** The file extension dzsave uses for each tile format, also the Format attribute of the descriptor. */
export function tileExtension(format: 'jpeg' | 'png' | 'webp'): string {
  return format;
}

export function dziXml(width: number, height: number, tileSize: number, overlap: number, format: 'jpeg' | 'png' | 'webp'): string {
  assertDimensions(width, height);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="${tileExtension(format)}" Overlap="${overlap}" TileSize="${tileSize}">\n` +
    `  <Size Height="${height}" Width="${width}"/>\n` +
    '</Image>\n'
  );
}

function assertDimensions(width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image dimensions must be positive integers, got ${width}x${height}`);
  }
}
