/**
 * Tile encoder settings, one place. Chosen by measurement (docs/memory.md,
 * "Encoder settings"): same quality number, fewer bytes, and every setting is
 * deterministic so a re-tiled image yields byte-identical tiles.
 */
import sharp, { type Sharp } from 'sharp';

export type TileFormat = 'jpeg' | 'png' | 'webp';

export const DEFAULT_QUALITY = 85;

/** How JPEG tiles are written: see TileOptions.jpegEncoder (tile-image.ts). */
export type JpegEncoder = 'direct' | 'sharp';
export const JPEG_ENCODERS: readonly JpegEncoder[] = ['direct', 'sharp'];
export const DEFAULT_JPEG_ENCODER: JpegEncoder = 'direct';

export function defaultFormat(hasAlpha: boolean): TileFormat {
  return hasAlpha ? 'png' : 'jpeg';
}

/** Bumped whenever the tile pipeline or encoder settings change what bytes a tile gets. */
const TILE_PIPELINE_VERSION = 1;

/**
 * Names what produces a tile's bytes: two runs with the same id cut identical
 * tiles, so a resumed upload can trust what an earlier attempt stored.
 */
export function tilerId(format: TileFormat, quality: number, jpegEncoder: JpegEncoder | null = null): string {
  // The sharp encoder keeps the id it had before direct mode existed, so older checkpoints stay valid.
  // Direct mode's tiles changed bytes when the Huffman pass came (huffman-pass.ts): a new name.
  const encoder = jpegEncoder === 'direct' ? ' direct+huffman' : '';
  return `hugemap-tiles/${TILE_PIPELINE_VERSION} sharp/${sharp.versions.sharp} vips/${sharp.versions.vips} ${format} q${quality}${encoder}`;
}

/** Applies the tile encoder to a pipeline (must run before `.tile()`, which reads the chosen format). */
export function withTileEncoder(pipeline: Sharp, format: TileFormat, quality: number): Sharp {
  switch (format) {
    case 'jpeg':
      // Baseline JPEG with optimised Huffman tables, libjpeg's standard quantisation. Measured with
      // bench/encoders.ts (bench/results/encoders.md; SSIM of the top level vs the source): the same
      // decoded pixels as libvips' own dzsave output at the same quality (SSIM equal to 5 digits)
      // with 22% fewer bytes, on a PNG and a JPEG source alike. mozjpeg's trellis + table 3 saves
      // more bytes only by lowering quality (q85: SSIM 0.9902 vs 0.9931 on the PNG source); at
      // equal SSIM it is ~10% smaller than this but takes 1.5-2x the encode time, which would put
      // tiling far outside its time budget (docs/performance.md). Baseline, not progressive:
      // scans cost time for nothing on 256 px tiles.
      return pipeline.jpeg({
        quality,
        optimiseCoding: true,
        progressive: false,
        chromaSubsampling: quality >= 90 ? '4:4:4' : '4:2:0',
      });
    case 'png':
      // Lossless only: no palette quantisation (it changes pixels). Adaptive filtering + level 9
      // chosen over the default 6 by measurement.
      return pipeline.png({ compressionLevel: 9, adaptiveFiltering: true, palette: false });
    case 'webp':
      return pipeline.webp({ quality, alphaQuality: 100, effort: 4, smartSubsample: false });
  }
}
