/**
 * Test images generated on the fly by sharp into a temp folder: nothing large
 * is committed, and every fixture states exactly what its pixels are.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

export interface TempDir {
  path: string;
  file(name: string): string;
  remove(): Promise<void>;
}

export async function tempDir(prefix = 'hugemap-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rm(path, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 }) };
}

export type Rgb = readonly [number, number, number];
export const RED: Rgb = [255, 0, 0];
export const GREEN: Rgb = [0, 255, 0];
export const BLUE: Rgb = [0, 0, 255];
export const WHITE: Rgb = [255, 255, 255];

/** Four flat quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. */
export function quadrantColour(x: number, y: number, width: number, height: number): Rgb {
  const right = x >= Math.floor(width / 2);
  const bottom = y >= Math.floor(height / 2);
  return bottom ? (right ? WHITE : BLUE) : right ? GREEN : RED;
}

export function quadrantRaw(width: number, height: number, channels: 3 | 4 = 3, alpha = 255): Buffer {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = quadrantColour(x, y, width, height);
      const i = (y * width + x) * channels;
      data[i] = c[0];
      data[i + 1] = c[1];
      data[i + 2] = c[2];
      if (channels === 4) data[i + 3] = alpha;
    }
  }
  return data;
}

export function quadrants(width: number, height: number): Sharp {
  return sharp(quadrantRaw(width, height), { raw: { width, height, channels: 3 } });
}

/** Red ramps left to right, green top to bottom; blue is `blue(x, y)`. */
function ramps(width: number, height: number, blue: (x: number, y: number) => number): Sharp {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / Math.max(1, width - 1);
      data[i + 1] = (y * 255) / Math.max(1, height - 1);
      data[i + 2] = blue(x, y);
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** A smooth gradient with detail, closer to a photo than flat colour (for encoder and determinism checks). */
export function gradient(width: number, height: number): Sharp {
  return ramps(width, height, (x, y) => (x * y) % 256);
}

/**
 * Smooth colour (two ramps and a slow wave, no detail finer than a tile): where two resampling or
 * colour-conversion orders must agree, which gradient()'s (x * y) % 256 noise makes them not.
 */
export function smoothColours(width: number, height: number): Sharp {
  return ramps(width, height, (x, y) => 128 + 100 * Math.sin(x / 150) * Math.cos(y / 110));
}

export async function solidJpeg(path: string, width: number, height: number, colour: Rgb = [200, 100, 50]): Promise<string> {
  await sharp({ create: { width, height, channels: 3, background: { r: colour[0], g: colour[1], b: colour[2] } } })
    .jpeg({ quality: 90 })
    .toFile(path);
  return path;
}

/** Raw RGB pixels of any image file, after EXIF orientation. */
export async function rawPixels(path: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

export function pixelAt(img: { data: Buffer; width: number; channels: number }, x: number, y: number): number[] {
  const i = (y * img.width + x) * img.channels;
  return [...img.data.subarray(i, i + img.channels)];
}

/** Largest per-channel difference between two same-sized raw images. */
export function maxDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`raw sizes differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return max;
}

export function meanDifference(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`raw sizes differ: ${a.length} vs ${b.length}`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] ?? 0) - (b[i] ?? 0));
  return sum / a.length;
}

/** A valid PNG whose header claims width x height but holds almost no data: a decompression bomb. */
export async function pngBomb(path: string, width: number, height: number): Promise<string> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(4096))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  await writeFile(path, png);
  return path;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Keeps the first `fraction` of a file: a download cut short. */
export async function truncatedCopy(source: string, path: string, fraction: number): Promise<string> {
  const bytes = await readFile(source);
  await writeFile(path, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return path;
}
