/**
 * Tile encoder settings, one place. Chosen by measurement (docs/memory.md,
 * "Encoder settings"): same quality number, fewer bytes, and every setting is
 * deterministic so a re-tiled image yields byte-identical tiles.
 */
import type { Sharp } from 'sharp';

export type TileFormat = 'jpeg' | 'png' | 'webp';

export const DEFAULT_QUALITY = 85;

export function defaultFormat(hasAlpha: boolean): TileFormat {
  return hasAlpha ? 'png' : 'jpeg';
}

/** Applies the tile encoder to a pipeline (must run before `.tile()`, which reads the chosen format). */
export function withTileEncoder(pipeline: Sharp, format: TileFormat, quality: number): Sharp {
  switch (format) {
    case 'jpeg':
      // mozjpeg's trellis quantisation with its quantisation table 3 (+ deringing, optimised
      // Huffman): 18% fewer bytes than plain libjpeg at equal PSNR on a non-JPEG source, for about
      // twice the encode time. Baseline, not progressive: scans cost time for nothing on 256 px
      // tiles. Numbers and the caveat for JPEG sources: docs/memory.md, "Encoder settings".
      return pipeline.jpeg({
        quality,
        optimiseCoding: true,
        trellisQuantisation: true,
        overshootDeringing: true,
        quantisationTable: 3,
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
