/**
 * Renders one scaled image with bounded memory, whatever the original's size:
 * - a finished image is read from its stored pyramid, at the smallest level
 *   that still has enough pixels, and only the part that will be kept;
 * - an image still being tiled is decoded from its original with libvips'
 *   shrink-on-load and sequential access (never loaded whole).
 * Either way the output has exactly the dimensions `scaledDimensions` says.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { HugemapError, NotFoundError, withLocalPathsHidden } from '../../shared/errors.js';
import { imageKeys, type ImageDoc } from '../../shared/image-status.js';
import type { S3Store } from '../../shared/storage/s3-store.js';
import { probeImage } from '../../shared/tiling/probe.js';
import { classifyVipsError } from '../../shared/tiling/vips-errors.js';
import { levelFor, levelRegion, type StoredPyramid } from './pyramid-reader.js';
import { downscaleFactor, scaledDimensions, type SizeSpec } from './size-spec.js';

export type OutputFormat = 'jpeg' | 'png' | 'webp';
export type BoxSpec = Exclude<SizeSpec, { kind: 'original' }>;

export interface ScalerDeps {
  s3: S3Store;
  maxPixels: number;
  /** Scratch space for originals downloaded while an image is not tiled yet. */
  tmpDir: string;
}

export interface Rendered {
  data: Buffer;
  width: number;
  height: number;
}

export function storedPyramid(doc: ImageDoc): StoredPyramid | null {
  if (doc.status !== 'done' || !doc.width || !doc.height || !doc.format) return null;
  return { id: doc._id, width: doc.width, height: doc.height, tileSize: doc.tileSize, format: doc.format };
}

export async function renderScaled(deps: ScalerDeps, doc: ImageDoc, spec: BoxSpec, format: OutputFormat): Promise<Rendered> {
  const pyramid = storedPyramid(doc);
  if (pyramid) return fromPyramid(deps.s3, pyramid, spec, format);
  return withOriginal(deps, doc, (file, width, height) => fromOriginal(file, width, height, spec, format, deps.maxPixels));
}

/** Displayed width and height (EXIF orientation applied), from the document or the original's header. */
export async function imageDimensions(deps: ScalerDeps, doc: ImageDoc): Promise<{ width: number; height: number }> {
  if (doc.width && doc.height) return { width: doc.width, height: doc.height };
  return withOriginal(deps, doc, async (_file, width, height) => ({ width, height }));
}

export function encode(image: Sharp, format: OutputFormat): Sharp {
  if (format === 'jpeg') return image.flatten({ background: '#ffffff' }).jpeg({ quality: 85, mozjpeg: false });
  if (format === 'webp') return image.webp({ quality: 82 });
  return image.png({ compressionLevel: 6 });
}

async function fromPyramid(s3: S3Store, p: StoredPyramid, spec: BoxSpec, format: OutputFormat): Promise<Rendered> {
  const out = scaledDimensions(p.width, p.height, spec);
  const { level, factor } = levelFor(p, downscaleFactor(p.width, p.height, spec));
  // The part of the full image that stays visible (all of it for fit, the centre for fill).
  let crop = { left: 0, top: 0, width: p.width, height: p.height };
  if (spec.kind === 'fill') {
    const scale = Math.max(spec.width / p.width, spec.height / p.height);
    const w = Math.min(p.width, spec.width / scale);
    const h = Math.min(p.height, spec.height / scale);
    crop = { left: (p.width - w) / 2, top: (p.height - h) / 2, width: w, height: h };
  }
  const left = Math.min(level.width - 1, Math.round(crop.left / factor));
  const top = Math.min(level.height - 1, Math.round(crop.top / factor));
  const rect = {
    left,
    top,
    width: Math.max(1, Math.min(level.width - left, Math.round(crop.width / factor))),
    height: Math.max(1, Math.min(level.height - top, Math.round(crop.height / factor))),
  };
  const region = await levelRegion(s3, p, level, rect);
  const data = await encode(region.resize(out.width, out.height, { fit: 'fill' }), format).toBuffer();
  return { data, ...out };
}

async function fromOriginal(file: string, width: number, height: number, spec: BoxSpec, format: OutputFormat, maxPixels: number): Promise<Rendered> {
  const out = scaledDimensions(width, height, spec);
  try {
    const image = sharp(file, { limitInputPixels: maxPixels, sequentialRead: true })
      .autoOrient()
      .resize(out.width, out.height, { fit: spec.kind === 'fill' ? 'cover' : 'fill', position: 'centre' });
    return { data: await encode(image, format).toBuffer(), ...out };
  } catch (err) {
    throw classifyVipsError('the original image', err);
  }
}

/** libvips streams only from files: the original is copied to local scratch for the call, then removed. */
async function withOriginal<T>(deps: ScalerDeps, doc: ImageDoc, use: (file: string, width: number, height: number) => Promise<T>): Promise<T> {
  const dir = path.join(deps.tmpDir, `orig-${randomBytes(8).toString('hex')}`);
  const file = path.join(dir, 'original');
  await mkdir(dir, { recursive: true });
  try {
    try {
      await deps.s3.downloadToFile(imageKeys.original(doc._id), file);
    } catch (err) {
      if (err instanceof NotFoundError) throw new NotFoundError(`original of image ${doc._id} (not stored yet)`);
      throw err;
    }
    const probe = await probeImage(file, { maxPixels: deps.maxPixels });
    return await use(file, probe.width, probe.height);
  } catch (err) {
    // Answered to the client as is (a damaged original is a 422): without this server's scratch paths.
    throw err instanceof HugemapError ? withLocalPathsHidden(err, [[file, 'the original image'], [`${dir}${path.sep}`, '']]) : err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
