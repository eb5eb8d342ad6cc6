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

export function iiifLimits(p: StoredPyramid, maxDimension: number): IiifLimits {
  return { maxWidth: Math.min(p.width, maxDimension), maxHeight: Math.min(p.height, maxDimension) };
}

export function infoJson(serviceId: string, p: StoredPyramid, maxDimension: number): Record<string, unknown> {
  const levels = pyramidLevels(p);
  const limits = iiifLimits(p, maxDimension);
  const info: Record<string, unknown> = {
    '@context': IIIF_CONTEXT,
    id: serviceId,
    type: 'ImageService3',
    protocol: 'http://iiif.io/api/image',
    profile: 'level1',
    width: p.width,
    height: p.height,
    tiles: [{ width: p.tileSize, height: p.tileSize, scaleFactors: levels.map((_, k) => 2 ** k) }],
    sizes: levels.filter((l) => l.width <= limits.maxWidth && l.height <= limits.maxHeight).map((l) => ({ width: l.width, height: l.height })),
    extraFormats: ['png', 'webp'],
    extraQualities: ['color', 'gray', 'bitonal'],
    extraFeatures: ['baseUriRedirect', 'cors', 'jsonldMediaType', 'mirroring', 'regionByPct', 'rotationBy90s', 'sizeByConfinedWh', 'sizeByPct'],
  };
  if (limits.maxWidth < p.width || limits.maxHeight < p.height) {
    info.maxWidth = limits.maxWidth;
    info.maxHeight = limits.maxHeight;
  }
  return info;
}

export interface IiifImage {
  data: Buffer;
  contentType: string;
  /** True when the bytes are a stored tile, untouched. */
  fromTile: boolean;
}

export async function renderIiif(s3: S3Store, p: StoredPyramid, req: IiifRequest): Promise<IiifImage> {
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
  if (plain && wholeTile && format === p.format) {
    const data = await readTile(s3, tileKey(p, level.level, left / t, top / t));
    return { data, contentType: `image/${format}`, fromTile: true };
  }
  let image = (await levelRegion(s3, p, level, rect)).resize(size.width, size.height, { fit: 'fill' });
  // Mirroring comes before rotation (spec 4.3); a new pipeline keeps sharp from reordering them.
  if (req.mirror || req.rotation !== 0) {
    const resized = await image.raw().toBuffer({ resolveWithObject: true });
    image = sharp(resized.data, { raw: { width: resized.info.width, height: resized.info.height, channels: resized.info.channels } });
    if (req.mirror) image = image.flop();
    if (req.rotation !== 0) image = image.rotate(req.rotation);
  }
  if (req.quality === 'gray') image = image.grayscale();
  if (req.quality === 'bitonal') image = image.threshold(128);
  return { data: await encode(image, format).toBuffer(), contentType: `image/${format}`, fromTile: false };
}
