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
      // Baseline + optimised Huffman tables. Trellis quantisation and mozjpeg's table 3 made tiles
      // 4-11% smaller but LOST 2.3-5.6 dB PSNR at the same quality number, i.e. they are a lower
      // quality, not a better encoder; progressive scans cost time for nothing on 256 px tiles.
      return pipeline.jpeg({
        quality,
        optimiseCoding: true,
        trellisQuantisation: false,
        overshootDeringing: false,
        quantisationTable: 0,
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
