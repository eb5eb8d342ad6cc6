/**
 * How one large image is cut as horizontal bands by several workers (docs/split-jobs.md).
 *
 * A band's top and height (except the last band's) are multiples of 256 x 2^k, so on the
 * top k+1 levels of the pyramid (full size and k halvings) its tiles are exactly tiles of the
 * unsplit pyramid: dzsave halves 2x2 blocks of pixels, and no block, no tile row, crosses a band
 * boundary there. Levels below come from the assembling job, which joins the bands' level-k
 * images (each the band halved k times, losslessly) and cuts them as one small image.
 * Pure arithmetic, like pyramid.ts.
 */
import { DEFAULT_TILE_SIZE, deepZoomLevels, maxLevelFor, type PyramidLevel } from './pyramid.js';

/** Halvings a band cuts itself (k): the assembling job then handles 1/4^k of the pixels. */
export const MAX_BAND_SHRINKS = 3;

export interface Band {
  index: number;
  /** First row of the image in this band. */
  top: number;
  height: number;
}

/** What the status document keeps of a split (job data carries only the image id and the part). */
export interface BandPlan {
  width: number;
  height: number;
  /** Halvings each band cuts (levels top-k..top are the bands', the rest the assembling job's). */
  shrinks: number;
  /** Rows of every band but the last: a multiple of 256 x 2^shrinks. */
  bandHeight: number;
  bands: number;
}

/**
 * The split of a width x height image into bands of about `splitPixels` each, or null when it is
 * cut whole: `splitPixels` 0 (never split), an image no larger than that, one under 256 px wide, or
 * one too short for two bands of 256 rows.
 */
export function planBands(width: number, height: number, splitPixels: number): BandPlan | null {
  // Under 256 px wide a band may have fewer levels than it should own; such images are never that large.
  if (splitPixels <= 0 || width * height <= splitPixels || width < DEFAULT_TILE_SIZE) return null;
  if (height < 2 * bandUnit(0)) return null;
  const wanted = Math.ceil((width * height) / splitPixels);
  // The most halvings that still allow the wanted number of bands (fewer, larger bands below 256 rows each).
  let shrinks = MAX_BAND_SHRINKS;
  while (shrinks > 0 && bandUnit(shrinks) * wanted > height) shrinks--;
  const unit = bandUnit(shrinks);
  const bandHeight = Math.max(unit, Math.ceil(height / wanted / unit) * unit);
  const bands = Math.ceil(height / bandHeight);
  return bands < 2 ? null : { width, height, shrinks, bandHeight, bands };
}

/** Band heights are multiples of this. */
export function bandUnit(shrinks: number): number {
  return DEFAULT_TILE_SIZE * 2 ** shrinks;
}

export function bandAt(plan: BandPlan, index: number): Band {
  if (!Number.isInteger(index) || index < 0 || index >= plan.bands) throw new RangeError(`band ${index} of ${plan.bands}`);
  const top = index * plan.bandHeight;
  return { index, top, height: Math.min(plan.bandHeight, plan.height - top) };
}

/** Columns `left..left+width` of a band, cut by one worker one after another (bandColumns). */
export interface BandColumn {
  index: number;
  left: number;
  width: number;
}

/**
 * A band of the 40960 px wide 10 GP test TIFF is cut as four columns: the TIFF loader's cache (two
 * rows of tiles of the whole width, sized by libvips) stays; columns narrow only the cut's strips.
 */
export const DEFAULT_MAX_COLUMN_WIDTH = 10_240;

/**
 * The columns of a band wider than `maxWidth`, as even as allowed: a column's left edge and width
 * (except the last's) are multiples of 256 x 2^k like a band's rows, so its tiles on the band's
 * levels are the band's tiles. A cut holds dzsave's strips across its whole width: at 40960 px,
 * beside a tiled TIFF loader's cache of two rows of tiles, that took a band worker past 300 MB
 * (docs/split-jobs.md, "Memory"). `maxWidth` 0: the band whole.
 */
export function bandColumns(plan: BandPlan, maxWidth: number): BandColumn[] {
  if (!Number.isInteger(maxWidth) || maxWidth < 0) throw new RangeError(`column width ${maxWidth}`);
  const unit = bandUnit(plan.shrinks);
  const wanted = maxWidth === 0 ? 1 : Math.ceil(plan.width / maxWidth);
  const width = wanted <= 1 ? plan.width : Math.ceil(plan.width / wanted / unit) * unit;
  const columns: BandColumn[] = [];
  for (let left = 0; left < plan.width; left += width) columns.push({ index: columns.length, left, width: Math.min(width, plan.width - left) });
  return columns;
}

/** The whole width of the image: a band cut in one piece. */
export function wholeWidth(plan: BandPlan): BandColumn {
  return { index: 0, left: 0, width: plan.width };
}

/**
 * The image's pyramid level that a level of a band's column maps to (by the column's own level
 * numbers), and the tile row and column offsets there; null for levels the band does not own.
 */
export function bandLevelInImage(plan: BandPlan, band: Band, bandLevel: number, column: BandColumn = wholeWidth(plan)): { level: number; rowOffset: number; colOffset: number } | null {
  const bandTop = maxLevelFor(column.width, band.height);
  const shrinks = bandTop - bandLevel;
  if (shrinks < 0 || shrinks > plan.shrinks) return null;
  const level = maxLevelFor(plan.width, plan.height) - shrinks;
  return { level, rowOffset: band.top / bandUnit(shrinks), colOffset: column.left / bandUnit(shrinks) };
}

/** Levels of the image the assembling job cuts and stores: every level below the bands' lowest. */
export function assembledLevels(plan: BandPlan): PyramidLevel[] {
  return deepZoomLevels(plan.width, plan.height).slice(0, maxLevelFor(plan.width, plan.height) - plan.shrinks);
}

/** The size of the image the assembling job cuts: the whole image halved `shrinks` times (dzsave's rounding up). */
export function levelImageSize(plan: BandPlan): { width: number; height: number } {
  const scale = 2 ** plan.shrinks;
  return { width: Math.ceil(plan.width / scale), height: Math.ceil(plan.height / scale) };
}
