/**
 * How every pass opens the input and turns its pixels into what tiles hold:
 * sRGB, 8 bits per channel, first page only, damage is an error.
 */
import type { Sharp, SharpOptions } from 'sharp';

export interface SourceOptions {
  limitInputPixels: number;
  orientation: number;
  /** Flatten alpha onto white (JPEG tiles cannot hold alpha). */
  flatten: boolean;
  /** The embedded profile is sRGB itself (probe's `srgbProfile`): skip the identity transform, a lookup per pixel. */
  ignoreIcc?: boolean;
}

export function sharpInputOptions(source: SourceOptions, overrides: SharpOptions = {}): SharpOptions {
  return {
    limitInputPixels: source.limitInputPixels,
    // libvips would otherwise fill a truncated file's missing rows with grey and call it a success.
    failOn: 'truncated',
    sequentialRead: true,
    autoOrient: true,
    page: 0,
    pages: 1,
    ignoreIcc: source.ignoreIcc === true,
    ...overrides,
  };
}

/**
 * CMYK, 16-bit, greyscale and tagged RGB all end as 8-bit sRGB: sharp converts
 * through the embedded ICC profile when there is one (its own CMYK profile for
 * untagged CMYK), unless that profile is sRGB itself (`ignoreIcc`), and
 * toColourspace('srgb') also narrows 16-bit to 8-bit.
 */
export function colourPipeline(pipeline: Sharp, source: Pick<SourceOptions, 'flatten'>): Sharp {
  const srgb = pipeline.toColourspace('srgb');
  return source.flatten ? srgb.flatten({ background: '#ffffff' }) : srgb;
}
