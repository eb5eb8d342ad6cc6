/**
 * libvips streams an image through buffers measured in scanlines, whatever
 * the image's width: a dzsave holds about 6 x 128 rows of the decoded image in
 * them (the sink's two write buffers and the loader's line caches, each some
 * multiple of libvips' tile height, 128 by default). At 40960 px of RGB that is
 * 94 MB, the largest part of a gigapixel cut besides dzsave's strip per pyramid
 * level; at 20480 px it is 47 MB.
 *
 * So before each cut the tile height is halved until those rows fit
 * LINE_BUFFER_BUDGET_BYTES. Measured on the 944 MP photo (docs/memory.md,
 * 2026-12-06): libvips' tracked memory 167 -> 122 MiB at 64, the same tiles
 * byte for byte. It stays at 128 wherever the budget allows, since smaller
 * buffers leave the decoder less room to run ahead of the tile writer.
 */
import type { ImageProbe } from './probe.js';
import { vipsFfi } from './vips-ffi.js';

/** libvips' own tile height: never raised above it. */
export const DEFAULT_TILE_HEIGHT = 128;
/** Below this the per-buffer overheads grow and the memory saved is a few MB. */
export const MIN_TILE_HEIGHT = 16;
/** Rows of the image a dzsave buffers per line of tile height (measured: 6.0 direct, 6.6 through sharp). */
export const BUFFERED_ROWS_PER_TILE_LINE = 6;
/** What those buffers may hold: the default's 47 MB at 20480 px RGB (236 MP) fits, 40960 px gets half. */
export const LINE_BUFFER_BUDGET_BYTES = 48e6;

const SAMPLE_BYTES: Record<string, number> = { uchar: 1, char: 1, ushort: 2, short: 2 };

/** Bytes of one decoded row as libvips reads the file: stored width (before rotation) x bands x sample size. */
export function decodedRowBytes(probe: Pick<ImageProbe, 'width' | 'height' | 'orientation' | 'channels' | 'depth'>): number {
  const storedWidth = probe.orientation >= 5 ? probe.height : probe.width;
  return storedWidth * probe.channels * (SAMPLE_BYTES[probe.depth] ?? 4);
}

/** The largest tile height, a power of two from 128 down to 16, whose buffered rows fit the budget. */
export function tileHeightFor(rowBytes: number, budgetBytes = LINE_BUFFER_BUDGET_BYTES): number {
  let lines = DEFAULT_TILE_HEIGHT;
  while (lines > MIN_TILE_HEIGHT && BUFFERED_ROWS_PER_TILE_LINE * lines * rowBytes > budgetBytes) lines /= 2;
  return lines;
}

/**
 * Sizes libvips' line buffers for this input; returns the tile height set, or undefined where
 * sharp's libvips cannot be reached (then libvips keeps its default). Process-wide, like
 * sharp.concurrency: pipelines already running keep the buffers they started with.
 */
export function boundLineBuffers(probe: Parameters<typeof decodedRowBytes>[0]): number | undefined {
  const vips = vipsFfi();
  const lines = tileHeightFor(decodedRowBytes(probe));
  return vips?.setTileHeight(lines) ? lines : undefined;
}
