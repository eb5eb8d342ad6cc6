/**
 * IIIF Image API 3.0 request parameters, pure: `{region}/{size}/{rotation}/{quality}.{format}`
 * resolved against an image's width and height into a pixel rectangle and an
 * output size. https://iiif.io/api/image/3.0/#4-image-requests
 *
 * Supported: region full|square|x,y,w,h|pct:x,y,w,h; size max|w,|,h|w,h|!w,h|pct:n
 * (no ^ upscaling); rotation 0|90|180|270 with optional ! mirroring; quality
 * default|color|gray|bitonal; format jpg|png|webp.
 */
import { BadRequestError } from '../../shared/errors.js';

export type IiifFormat = 'jpg' | 'png' | 'webp';
export type IiifQuality = 'default' | 'color' | 'gray' | 'bitonal';

export interface IiifRequest {
  region: { x: number; y: number; w: number; h: number };
  size: { width: number; height: number };
  rotation: 0 | 90 | 180 | 270;
  mirror: boolean;
  quality: IiifQuality;
  format: IiifFormat;
}

export interface IiifLimits {
  /** Largest output side; `max` is confined to it. */
  maxWidth: number;
  maxHeight: number;
}

const NUM = '(\\d+(?:\\.\\d+)?)';
const INT = '(\\d+)';

export function parseIiifRequest(
  width: number,
  height: number,
  limits: IiifLimits,
  params: { region: string; size: string; rotation: string; file: string },
): IiifRequest {
  const region = parseRegion(params.region, width, height);
  const size = parseSize(params.size, region, limits);
  const rot = /^(!?)(0|90|180|270)$/.exec(params.rotation);
  if (!rot) throw bad(`rotation "${params.rotation}" (supported: 0, 90, 180, 270, optionally with ! for mirroring)`);
  const qf = /^(default|color|gray|bitonal)\.(jpg|png|webp)$/.exec(params.file);
  if (!qf) throw bad(`quality.format "${params.file}" (qualities: default, color, gray, bitonal; formats: jpg, png, webp)`);
  return {
    region,
    size,
    rotation: Number(rot[2]) as IiifRequest['rotation'],
    mirror: rot[1] === '!',
    quality: qf[1] as IiifQuality,
    format: qf[2] as IiifFormat,
  };
}

function parseRegion(text: string, width: number, height: number): IiifRequest['region'] {
  if (text === 'full') return { x: 0, y: 0, w: width, h: height };
  if (text === 'square') {
    const side = Math.min(width, height);
    return { x: Math.floor((width - side) / 2), y: Math.floor((height - side) / 2), w: side, h: side };
  }
  let x: number, y: number, w: number, h: number;
  const px = new RegExp(`^${INT},${INT},${INT},${INT}$`).exec(text);
  const pct = new RegExp(`^pct:${NUM},${NUM},${NUM},${NUM}$`).exec(text);
  if (px) [x, y, w, h] = px.slice(1).map(Number) as [number, number, number, number];
  else if (pct) {
    const [px0, py0, pw, ph] = pct.slice(1).map(Number) as [number, number, number, number];
    x = Math.round((px0 / 100) * width);
    y = Math.round((py0 / 100) * height);
    w = Math.round((pw / 100) * width);
    h = Math.round((ph / 100) * height);
  } else throw bad(`region "${text}"`);
  if (w <= 0 || h <= 0) throw bad(`region "${text}" has no area`);
  if (x >= width || y >= height) throw bad(`region "${text}" lies outside the image`);
  // A region reaching past the edges is cropped to the image (spec 4.1).
  return { x, y, w: Math.min(w, width - x), h: Math.min(h, height - y) };
}

function parseSize(text: string, region: IiifRequest['region'], limits: IiifLimits): IiifRequest['size'] {
  if (text.startsWith('^')) throw bad('upscaling (^) is not supported');
  const confine = (maxW: number, maxH: number) => {
    const scale = Math.min(maxW / region.w, maxH / region.h);
    return { width: Math.max(1, Math.round(region.w * scale)), height: Math.max(1, Math.round(region.h * scale)) };
  };
  let size: IiifRequest['size'];
  let m: RegExpExecArray | null;
  if (text === 'max') {
    size = region.w <= limits.maxWidth && region.h <= limits.maxHeight ? { width: region.w, height: region.h } : confine(limits.maxWidth, limits.maxHeight);
  } else if ((m = new RegExp(`^${INT},$`).exec(text))) {
    const w = Number(m[1]);
    size = { width: w, height: Math.max(1, Math.round((region.h * w) / region.w)) };
  } else if ((m = new RegExp(`^,${INT}$`).exec(text))) {
    const h = Number(m[1]);
    size = { width: Math.max(1, Math.round((region.w * h) / region.h)), height: h };
  } else if ((m = new RegExp(`^!${INT},${INT}$`).exec(text))) {
    size = confine(Number(m[1]), Number(m[2]));
  } else if ((m = new RegExp(`^${INT},${INT}$`).exec(text))) {
    size = { width: Number(m[1]), height: Number(m[2]) };
  } else if ((m = new RegExp(`^pct:${NUM}$`).exec(text))) {
    const n = Number(m[1]);
    if (n <= 0 || n > 100) throw bad(`size "${text}": pct must be in (0, 100] without ^`);
    size = { width: Math.max(1, Math.round((region.w * n) / 100)), height: Math.max(1, Math.round((region.h * n) / 100)) };
  } else throw bad(`size "${text}"`);
  if (size.width <= 0 || size.height <= 0) throw bad(`size "${text}" is empty`);
  if (size.width > region.w || size.height > region.h) throw bad(`size "${text}" is larger than the region (${region.w}x${region.h}); upscaling needs ^, which is not supported`);
  if (size.width > limits.maxWidth || size.height > limits.maxHeight) throw bad(`size "${text}" exceeds the maximum ${limits.maxWidth}x${limits.maxHeight}`);
  return size;
}

function bad(what: string): BadRequestError {
  return new BadRequestError(`IIIF: unsupported or malformed ${what}`);
}
