/**
 * IIIF Image API 3.0 answers from the stored Deep Zoom pyramid: info.json, and
 * images where a tile-aligned request is the stored tile itself (bytes passed
 * through) and anything else is composed from the nearest level above.
 */
import sharp from 'sharp';
import type { S3Store } from '../../shared/storage/s3-store.js';
import type { IiifLimits, IiifRequest } from './iiif-request.js';
import { levelForRegion, levelRegion, pyramidLevels, readTile, tileKey, type StoredPyramid } from './pyramid-reader.js';
import { encode, type OutputFormat } from './scaler.js';

export const IIIF_CONTEXT = 'http://iiif.io/api/image/3/context.json';
export const IIIF_MEDIA_TYPE = `application/ld+json;profile="${IIIF_CONTEXT}"`;

const FORMATS: Record<IiifRequest['format'], OutputFormat> = { jpg: 'jpeg', png: 'png', webp: 'webp' };

/** What info.json promises and parseIiifRequest enforces: outputs up to SCALE_MAX_DIMENSION a side and IIIF_MAX_AREA pixels. */
export function iiifLimits(scale: { maxDimension: number; iiifMaxArea: number }): IiifLimits {
  return { maxWidth: scale.maxDimension, maxHeight: scale.maxDimension, maxArea: Math.min(scale.iiifMaxArea, scale.maxDimension ** 2) };
}

/** Level 2 (https://iiif.io/api/image/3.0/compliance/), and these beyond it. */
const EXTRA_FEATURES = ['canonicalLinkHeader', 'mirroring', 'profileLinkHeader', 'regionSquare', 'rotationArbitrary', 'sizeUpscaling'];

export const PROFILE_URI = 'http://iiif.io/api/image/3/level2.json';

export function infoJson(serviceId: string, p: StoredPyramid, limits: IiifLimits): Record<string, unknown> {
  const levels = pyramidLevels(p);
  const fits = (l: { width: number; height: number }) => l.width <= limits.maxWidth && l.height <= limits.maxHeight && l.width * l.height <= limits.maxArea;
  return {
    '@context': IIIF_CONTEXT,
    id: serviceId,
    type: 'ImageService3',
    protocol: 'http://iiif.io/api/image',
    profile: 'level2',
    width: p.width,
    height: p.height,
    maxWidth: limits.maxWidth,
    maxHeight: limits.maxHeight,
    maxArea: limits.maxArea,
    tiles: [{ width: p.tileSize, height: p.tileSize, scaleFactors: levels.map((_, k) => 2 ** k) }],
    sizes: levels.filter(fits).map((l) => ({ width: l.width, height: l.height })),
    extraFormats: ['webp'],
    extraQualities: ['color', 'gray', 'bitonal'],
    extraFeatures: EXTRA_FEATURES,
  };
}

export interface IiifImage {
  data: Buffer;
  contentType: string;
  /** True when the bytes are a stored tile, untouched. */
  fromTile: boolean;
}

/**
 * The stored tile's bytes when the request is exactly one tile of one level in
 * the stored format, unrotated and in colour; null for anything else.
 */
export async function storedTileFor(s3: S3Store, p: StoredPyramid, req: IiifRequest): Promise<IiifImage | null> {
  const { region, size } = req;
  const { level, factor, rect } = levelForRegion(p, region, size);
  const { left, top } = rect;
  const format = FORMATS[req.format];
  const t = p.tileSize;
  const plain = req.rotation === 0 && !req.mirror && (req.quality === 'default' || req.quality === 'color');
  const wholeTile =
    region.x % (t * factor) === 0 &&
    region.y % (t * factor) === 0 &&
    rect.width === Math.min(t, level.width - left) &&
    rect.height === Math.min(t, level.height - top) &&
    size.width === rect.width &&
    size.height === rect.height;
  if (!plain || !wholeTile || format !== p.format) return null;
  const data = await readTile(s3, tileKey(p, level.level, left / t, top / t));
  return { data, contentType: `image/${format}`, fromTile: true };
}

/**
 * Composes the answer from the tiles of the smallest level that still has the
 * pixels the output needs (levelForRegion), so a small region of a gigapixel
 * image costs a few tiles; the output is at most the limits' area.
 */
export async function renderIiif(s3: S3Store, p: StoredPyramid, req: IiifRequest): Promise<IiifImage> {
  const { region, size } = req;
  const { level, rect } = levelForRegion(p, region, size);
  const format = FORMATS[req.format];
  let image = (await levelRegion(s3, p, level, rect)).resize(size.width, size.height, { fit: 'fill' });
  // Mirroring comes before rotation (spec 4.3); a new pipeline keeps sharp from reordering them.
  if (req.mirror || req.rotation !== 0) {
    const resized = await image.raw().toBuffer({ resolveWithObject: true });
    image = sharp(resized.data, { raw: { width: resized.info.width, height: resized.info.height, channels: resized.info.channels } });
    if (req.mirror) image = image.flop();
    if (req.rotation % 90 === 0) image = image.rotate(req.rotation);
    else {
      // The corners a non-right angle uncovers: transparent where the format has alpha (spec 4.3),
      // white in a JPEG and in bitonal output, which has no alpha to give them.
      const opaque = format === 'jpeg' || req.quality === 'bitonal';
      if (!opaque) image = image.ensureAlpha();
      image = image.rotate(req.rotation, { background: opaque ? { r: 255, g: 255, b: 255, alpha: 1 } : { r: 0, g: 0, b: 0, alpha: 0 } });
    }
  }
  if (req.quality === 'gray') image = image.grayscale();
  if (req.quality === 'bitonal') image = image.threshold(128);
  return { data: await encode(image, format).toBuffer(), contentType: `image/${format}`, fromTile: false };
}
