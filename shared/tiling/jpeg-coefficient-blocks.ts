/**
 * How the progressive -> baseline rewrite holds DCT coefficients, and the passes it makes over them.
 *
 * Per component, each block is 64 int16 coefficients in zigzag order (the
 * order scans code them) followed by a 64-bit map of which AC coefficients
 * are nonzero (two int32 words, bit k = coefficient k): with it, refinement
 * scans and the encoder visit only the few nonzero coefficients of a block
 * instead of all 63. Blocks are in raster order, each block row padded to the
 * MCU grid (mcusPerLine * H blocks) and the rows to mcusPerColumn * V, so an
 * interleaved scan's dummy blocks have a place too.
 *
 * Work happens in passes over bands: band m is block rows m*V .. m*V+V-1 of
 * each component taken, i.e. one MCU row. jpeg-coefficient-pipeline.ts hands
 * a few bands at a time from pass to pass.
 */

/** A block in int16 units: 64 coefficients, then the nonzero map. */
export const BLOCK_STRIDE = 68;

/** Index in `Chunk.maps` of the first nonzero-map word of the block whose coefficients start at `at`. */
export function mapIndex(at: number): number {
  return (at >> 1) + 32;
}

export interface ComponentGrid {
  /** Padded blocks per block row: mcusPerLine * H. */
  blocksPerLine: number;
  /** Padded block rows: mcusPerColumn * V. */
  blockRows: number;
  /** Block rows per band (MCU row): V. */
  bandRows: number;
}

/**
 * What a pass hands over: `count` bands from `first`, per component taken
 * (block rows first*V onward) the blocks as int16 and, over the same memory,
 * as int32 for the nonzero maps. Block b starts at b * BLOCK_STRIDE.
 */
export interface Chunk {
  first: number;
  count: number;
  coefficients: Int16Array[];
  maps: Int32Array[];
}

/** Passes over a JPEG's coefficients in bands, as the scan decoder and the encoder make them. */
export interface CoefficientPasses {
  /**
   * Bands 0..bands-1 of `components`, in order; `work` may change the
   * coefficients when `writeBack` is set (a scan's decoder), else only reads them.
   */
  pass(components: number[], bands: number, writeBack: boolean, work: (chunk: Chunk) => void | Promise<void>): Promise<void>;
}
