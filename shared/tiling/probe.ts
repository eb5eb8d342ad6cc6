/**
 * Probe: what is this file, how big, and can libvips stream it? Reads the
 * header only, so a decompression bomb (a tiny file whose header claims
 * billions of pixels) is refused in milliseconds, before any pixel is decoded.
 */
import { open, stat } from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import {
  CorruptImageError,
  EmptyInputError,
  InputNotFoundError,
  NotAnImageError,
  TooManyPixelsError,
  NotStreamableError,
} from '../errors.js';
import { baselineObstacle } from './jpeg-progressive.js';
import { isSrgbProfile } from './icc-srgb.js';

export interface ImageProbe {
  /** Width and height as displayed, i.e. after the EXIF orientation is applied. */
  width: number;
  height: number;
  format: string;
  hasAlpha: boolean;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
  space: string;
  /** Bands as stored (3 for RGB, 4 for CMYK or RGB with alpha). */
  channels: number;
  depth: string;
  progressive: boolean;
  pages: number;
  bytes: number;
  /**
   * libvips cannot stream this input top to bottom (progressive JPEG,
   * interlaced PNG, an EXIF orientation that rotates or flips vertically); tiling converts it to a
   * disk-backed intermediate first so the tiler itself stays in bounded memory.
   */
  needsIntermediate: boolean;
  /**
   * A progressive JPEG above maxBufferedPixels: the intermediate is a lossless baseline rewrite of it
   * (jpeg-progressive.ts), which streams like a baseline original (the probe has already refused the
   * kinds the rewrite cannot handle).
   */
  baselineRewrite: boolean;
  /** RGB pixels tagged with a profile that is sRGB itself: converting them "to sRGB" would change nothing (icc-srgb.ts). */
  srgbProfile: boolean;
  /** The file embeds an ICC profile (of any kind). */
  iccProfile: boolean;
}

/** Formats we accept, recognised by their first bytes, not by the file name. */
const SIGNATURES: ReadonlyArray<{ format: string; test: (b: Buffer) => boolean }> = [
  { format: 'jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { format: 'png', test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { format: 'tiff', test: (b) => ['49492a00', '4d4d002a', '49492b00', '4d4d002b'].includes(b.subarray(0, 4).toString('hex')) },
  { format: 'webp', test: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' },
];

export async function sniffFormat(path: string): Promise<{ format: string | undefined; bytes: number }> {
  let bytes: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new NotAnImageError(path, 'not a regular file');
    bytes = st.size;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new InputNotFoundError(path);
    throw err;
  }
  if (bytes === 0) throw new EmptyInputError(path);
  const head = Buffer.alloc(16);
  const file = await open(path, 'r');
  try {
    await file.read(head, 0, head.length, 0);
  } finally {
    await file.close();
  }
  return { format: SIGNATURES.find((s) => s.test(head))?.format, bytes };
}

/**
 * Progressive JPEGs that cannot be rewritten as baseline (12-bit, arithmetic
 * coding...: jpeg-progressive.ts) are decoded whole, and refused above this
 * many pixels: about 300 MB of decoder memory (docs/memory.md).
 */
export const DEFAULT_MAX_BUFFERED_PIXELS = 50_000_000;

export async function probeImage(path: string, opts: { maxPixels: number; maxBufferedPixels?: number }): Promise<ImageProbe> {
  const { format: sniffed, bytes } = await sniffFormat(path);
  if (sniffed === undefined) throw new NotAnImageError(path);

  let meta: Metadata;
  try {
    // No pixel limit here: we want the real dimensions for the error message; the limit is checked below.
    meta = await sharp(path, { limitInputPixels: false, failOn: 'truncated' }).metadata();
  } catch (err) {
    // The first bytes say it is an image we support, so an unreadable header means damage.
    throw new CorruptImageError(path, firstLine(err), err);
  }
  const { width, height } = meta;
  if (!width || !height) throw new CorruptImageError(path, 'header has no dimensions');
  if (width * height > opts.maxPixels) throw new TooManyPixelsError(width, height, opts.maxPixels);

  const orientation = meta.orientation ?? 1;
  const swapsAxes = orientation >= 5 && orientation <= 8;
  // Any rotate or vertical flip (orientations 3..8) makes sharp copy the whole image to memory (orientation.ts).
  const reorients = orientation >= 3 && orientation <= 8;
  const progressive = meta.isProgressive === true;
  const maxBuffered = opts.maxBufferedPixels ?? DEFAULT_MAX_BUFFERED_PIXELS;
  // Interlaced PNGs and progressive JPEGs are rewritten on disk first (png-deinterlace.ts, jpeg-progressive.ts),
  // so any size is bounded; only the progressive JPEGs that rewrite cannot handle are decoded whole.
  // Reading their structure costs one pass over the file, so it is only done where the answer matters.
  const baselineRewrite = progressive && meta.format === 'jpeg' && width * height > maxBuffered;
  if (baselineRewrite) {
    const obstacle = await baselineObstacle(path);
    if (obstacle !== null) throw new NotStreamableError('progressive JPEG', width * height, maxBuffered, obstacle);
  }
  return {
    width: swapsAxes ? height : width,
    height: swapsAxes ? width : height,
    format: meta.format ?? sniffed,
    hasAlpha: meta.hasAlpha === true,
    orientation,
    space: meta.space ?? 'unknown',
    channels: meta.channels ?? 3,
    depth: meta.depth ?? 'unknown',
    progressive,
    pages: meta.pages ?? 1,
    bytes,
    needsIntermediate: progressive || reorients,
    baselineRewrite,
    srgbProfile: (meta.space === 'srgb' || meta.space === 'rgb16') && isSrgbProfile(meta.icc),
    iccProfile: meta.icc !== undefined,
  };
}

export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** Why an input goes through the disk-backed intermediate, or null when it streams. */
export function intermediateReason(probe: ImageProbe): string | null {
  if (!probe.needsIntermediate) return null;
  if (probe.orientation >= 3) return 'exif-orientation';
  if (probe.format === 'png') return 'interlaced-png';
  if (probe.format === 'jpeg') return 'progressive-jpeg';
  return 'progressive';
}

/** 8 bits a sample, no alpha, upright: what libvips' direct pipelines take as they decode it. */
export function uprightOpaque8Bit(probe: ImageProbe): boolean {
  return probe.orientation === 1 && !probe.hasAlpha && probe.depth === 'uchar';
}

/** sRGB pixels as decoded: no embedded profile, or an sRGB one, so nothing to convert. */
export function srgbAsDecoded(probe: ImageProbe): boolean {
  return probe.space === 'srgb' && (probe.srgbProfile || !probe.iccProfile);
}
