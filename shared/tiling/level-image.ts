/**
 * A band halved k times exactly as dzsave halves a pyramid level, written losslessly: the input
 * of the assembling job (band-plan.ts). libvips' `vips_region_shrink_method` (which dzsave uses)
 * is reproduced in JS, line for line: without alpha, (a+b+c+d+2)>>2 per 8-bit sample; with alpha
 * (the last band), each colour weighted by its alpha in double and truncated, alpha the truncated
 * mean, all 0 where the alpha sum is 0; an odd last column or row is paired with itself.
 * test/tiling-band.test.ts compares the result with dzsave's own levels.
 *
 * Not libvips operations: `shrink` rounds twice (columns, then rows) and is off by 1 in places,
 * and an exact chain of them (copy-extend to even sides, 16-bit, shrink, shift) peaked at 420 MB
 * for a 20480 x 4096 band: libvips' `embed` made the sequential reader hold most of the band. Here
 * the band's uncompressed TIFF is read a few rows at a time (one read per strip slice) and only
 * one row per level is held: 0.5 s per 84 MP band, a few MB.
 */
import { open, type FileHandle } from 'node:fs/promises';
import sharp from 'sharp';

/** The layout of an uncompressed, chunky 8-bit TIFF, as libvips (sharp's tiffsave) writes it. */
interface StripLayout {
  width: number;
  height: number;
  channels: number;
  rowsPerStrip: number;
  stripOffsets: number[];
}

/**
 * Halves the image in `input` (an uncompressed 8-bit TIFF of 3 or 4 channels: a band's, as band-cut.ts
 * writes it) `shrinks` times and writes the result to `output` as PNG. `alpha`: the 4th channel is alpha.
 */
export async function writeLevelImage(input: string, size: { width: number; height: number; alpha: boolean }, shrinks: number, output: string): Promise<void> {
  const file = await open(input, 'r');
  try {
    const layout = await readStripLayout(file);
    if (layout.width !== size.width || layout.height !== size.height) {
      throw new Error(`level image: ${input} is ${layout.width}x${layout.height}, expected ${size.width}x${size.height}`);
    }
    const halver = new Halver(layout.width, layout.height, layout.channels, size.alpha && layout.channels === 4, shrinks);
    for await (const row of rows(file, layout)) halver.push(row);
    await writeLevel(halver, layout.channels, output);
  } finally {
    await file.close();
  }
}

/**
 * The same from decoded pixels (`width` x `height`, 3 channels, no alpha: a JPEG band's, as
 * vips-raw-rows.ts streams them), in chunks of any length.
 */
export async function writeLevelImageFromPixels(pixels: AsyncIterable<Uint8Array>, size: { width: number; height: number }, shrinks: number, output: string): Promise<void> {
  const channels = 3;
  const rowBytes = size.width * channels;
  const halver = new Halver(size.width, size.height, channels, false, shrinks);
  const partial = new Uint8Array(rowBytes);
  let held = 0;
  let rowsSeen = 0;
  for await (const chunk of pixels) {
    let at = 0;
    if (held > 0) {
      const n = Math.min(rowBytes - held, chunk.length);
      partial.set(chunk.subarray(0, n), held);
      held += n;
      at = n;
      if (held < rowBytes) continue;
      halver.push(partial);
      rowsSeen++;
      held = 0;
    }
    for (; at + rowBytes <= chunk.length; at += rowBytes, rowsSeen++) halver.push(chunk.subarray(at, at + rowBytes));
    partial.set(chunk.subarray(at), 0);
    held = chunk.length - at;
  }
  if (held !== 0 || rowsSeen !== size.height) throw new Error(`level image: got ${rowsSeen} rows and ${held} bytes, expected ${size.height} rows of ${size.width} pixels`);
  await writeLevel(halver, channels, output);
}

/** Lossless and fast: the level image is read once, by the assembling job. */
const LEVEL_PNG = { compressionLevel: 1, adaptiveFiltering: false } as const;

async function writeLevel(halver: Halver, channels: number, output: string): Promise<void> {
  const level = halver.finish();
  await sharp(level.data, { raw: { width: level.width, height: level.height, channels: channels as 3 | 4 } })
    .png(LEVEL_PNG)
    .toFile(output);
}

/**
 * The level images of a band's columns (band-plan.ts, bandColumns), left to right, as the band's
 * one level image of `size`: columns of 256 x 2^k pixels halve k times to whole pixels, so they
 * join without a seam. Streamed: a few rows at a time.
 */
export async function joinLevelImages(columns: string[], size: { width: number; height: number }, output: string): Promise<void> {
  // arrayjoin sizes every cell like the largest image: the last column's cell is cut back to the band.
  await sharp(columns, { join: { across: columns.length }, sequentialRead: true, limitInputPixels: false })
    .extract({ left: 0, top: 0, width: size.width, height: size.height })
    .png(LEVEL_PNG)
    .toFile(output);
}

/** Rows of the image a few at a time: at most ROWS_PER_READ rows in memory. */
const ROWS_PER_READ = 16;

async function* rows(file: FileHandle, layout: StripLayout): AsyncGenerator<Uint8Array> {
  const rowBytes = layout.width * layout.channels;
  const buffer = Buffer.alloc(rowBytes * ROWS_PER_READ);
  for (let y = 0; y < layout.height; ) {
    const strip = Math.floor(y / layout.rowsPerStrip);
    const inStrip = y - strip * layout.rowsPerStrip;
    const n = Math.min(ROWS_PER_READ, layout.rowsPerStrip - inStrip, layout.height - y);
    const { bytesRead } = await file.read(buffer, 0, n * rowBytes, layout.stripOffsets[strip]! + inStrip * rowBytes);
    if (bytesRead !== n * rowBytes) throw new Error(`level image: the band file ends early at row ${y}`);
    for (let r = 0; r < n; r++) yield buffer.subarray(r * rowBytes, (r + 1) * rowBytes);
    y += n;
  }
}

/** Reads the first IFD of a little-endian classic or BigTIFF file and checks it is what rows() can read. */
async function readStripLayout(file: FileHandle): Promise<StripLayout> {
  const head = Buffer.alloc(16);
  await file.read(head, 0, 16, 0);
  if (head.toString('latin1', 0, 2) !== 'II') throw new Error('level image: not a little-endian TIFF');
  const big = head.readUInt16LE(2) === 43;
  const ifd = big ? Number(head.readBigUInt64LE(8)) : head.readUInt32LE(4);
  const countBytes = big ? 8 : 2;
  const entryBytes = big ? 20 : 12;
  const countBuf = Buffer.alloc(countBytes);
  await file.read(countBuf, 0, countBytes, ifd);
  const count = big ? Number(countBuf.readBigUInt64LE(0)) : countBuf.readUInt16LE(0);
  const entries = Buffer.alloc(count * entryBytes);
  await file.read(entries, 0, entries.length, ifd + countBytes);
  const tags = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const e = i * entryBytes;
    const tag = entries.readUInt16LE(e);
    const type = entries.readUInt16LE(e + 2);
    const n = big ? Number(entries.readBigUInt64LE(e + 4)) : entries.readUInt32LE(e + 4);
    const width = type === 3 ? 2 : type === 4 ? 4 : type === 16 ? 8 : 0; // SHORT, LONG, LONG8
    if (width === 0) continue; // not a tag read here
    const inline = n * width <= (big ? 8 : 4);
    const valueAt = e + (big ? 12 : 8);
    const data = inline ? entries.subarray(valueAt, valueAt + n * width) : Buffer.alloc(n * width);
    if (!inline) {
      const offset = big ? Number(entries.readBigUInt64LE(valueAt)) : entries.readUInt32LE(valueAt);
      await file.read(data, 0, data.length, offset);
    }
    const values: number[] = [];
    for (let j = 0; j < n; j++) values.push(width === 2 ? data.readUInt16LE(j * 2) : width === 4 ? data.readUInt32LE(j * 4) : Number(data.readBigUInt64LE(j * 8)));
    tags.set(tag, values);
  }
  const one = (tag: number, fallback?: number): number => {
    const v = tags.get(tag)?.[0] ?? fallback;
    if (v === undefined) throw new Error(`level image: TIFF tag ${tag} missing`);
    return v;
  };
  const layout: StripLayout = {
    width: one(256),
    height: one(257),
    channels: one(277, 1),
    rowsPerStrip: Math.min(one(278, 2 ** 32 - 1), one(257)),
    stripOffsets: tags.get(273) ?? [],
  };
  const bits = tags.get(258) ?? [1];
  if (one(259, 1) !== 1 || one(284, 1) !== 1 || bits.some((b) => b !== 8) || tags.has(322) || ![3, 4].includes(layout.channels)) {
    throw new Error('level image: expected an uncompressed, chunky, 8-bit, 3 or 4 channel striped TIFF');
  }
  if (layout.stripOffsets.length !== Math.ceil(layout.height / layout.rowsPerStrip)) throw new Error('level image: strip count does not match the height');
  return layout;
}

/** One level of the cascade: holds the first row of each pair until its second arrives. */
interface Level {
  width: number;
  /** The first row of a pair, copied (the caller reuses its buffers); allocated once. */
  pending: Uint8Array;
  hasPending: boolean;
  /** This level's halved row, handed to the next level at once: reused for every pair. */
  halved: Uint8Array;
}

/**
 * Halves rows as they come, `shrinks` times in cascade (each level's rows feed the next), and
 * collects the last level's rows: only that level (1/4^shrinks of the band) is held whole. Every
 * buffer is allocated up front: a new row per pair cost more than the halving itself (about
 * 0.26 of 0.5 s for a 126 MP band, measured with --cpu-prof).
 */
class Halver {
  private readonly levels: Level[] = [];
  private readonly outWidth: number;
  private readonly outRowBytes: number;
  /** The last level, filled row by row: allocated once (no list of rows joined at the end). */
  private readonly out: Buffer;
  private outRows = 0;

  constructor(width: number, height: number, private readonly channels: number, private readonly alpha: boolean, shrinks: number) {
    let h = height;
    for (let s = 0, w = width; s < shrinks; s++, w = Math.ceil(w / 2), h = Math.ceil(h / 2)) {
      this.levels.push({ width: w, pending: new Uint8Array(w * channels), hasPending: false, halved: new Uint8Array(Math.ceil(w / 2) * channels) });
    }
    this.outWidth = shrinks === 0 ? width : Math.ceil(this.levels.at(-1)!.width / 2);
    this.outRowBytes = this.outWidth * channels;
    this.out = Buffer.alloc(h * this.outRowBytes);
  }

  push(row: Uint8Array): void {
    this.feed(0, row);
  }

  /** The last level, whole; an odd last row of any level is paired with itself, as dzsave does. */
  finish(): { data: Buffer; width: number; height: number } {
    for (let s = 0; s < this.levels.length; s++) {
      const l = this.levels[s]!;
      if (l.hasPending) {
        l.hasPending = false;
        this.feed(s + 1, this.halve(l, l.pending, l.pending));
      }
    }
    if (this.outRows * this.outRowBytes !== this.out.length) throw new Error(`level image: ${this.outRows} rows, expected ${this.out.length / this.outRowBytes}`);
    return { data: this.out, width: this.outWidth, height: this.outRows };
  }

  private feed(level: number, row: Uint8Array): void {
    if (level === this.levels.length) {
      // A copy: rows() reuses its buffer.
      this.out.set(row, this.outRows++ * this.outRowBytes);
      return;
    }
    const l = this.levels[level]!;
    if (!l.hasPending) {
      l.pending.set(row);
      l.hasPending = true;
      return;
    }
    l.hasPending = false;
    this.feed(level + 1, this.halve(l, l.pending, row));
  }

  /** One output row (into l.halved) from two input rows of l.width pixels (vips_region_shrink_method, mean). */
  private halve(l: Level, top: Uint8Array, bottom: Uint8Array): Uint8Array {
    const nb = this.channels;
    const width = l.width;
    const half = Math.ceil(width / 2);
    const q = l.halved;
    if (!this.alpha && nb === 3) return halveRgb(width, top, bottom, q);
    for (let x = 0; x < half; x++) {
      const p1 = 2 * x * nb;
      // An odd last column is paired with itself.
      const p2 = 2 * x + 1 < width ? p1 + nb : p1;
      const o = x * nb;
      if (!this.alpha) {
        q[o] = (top[p1]! + top[p2]! + bottom[p1]! + bottom[p2]! + 2) >> 2;
        q[o + 1] = (top[p1 + 1]! + top[p2 + 1]! + bottom[p1 + 1]! + bottom[p2 + 1]! + 2) >> 2;
        q[o + 2] = (top[p1 + 2]! + top[p2 + 2]! + bottom[p1 + 2]! + bottom[p2 + 2]! + 2) >> 2;
        if (nb === 4) q[o + 3] = (top[p1 + 3]! + top[p2 + 3]! + bottom[p1 + 3]! + bottom[p2 + 3]! + 2) >> 2;
        continue;
      }
      const a1 = top[p1 + nb - 1]!;
      const a2 = top[p2 + nb - 1]!;
      const a3 = bottom[p1 + nb - 1]!;
      const a4 = bottom[p2 + nb - 1]!;
      const a = (a1 + a2 + a3 + a4) / 4.0;
      if (a === 0) {
        // All 0 (the buffer is reused: a previous row's values are cleared).
        q.fill(0, o, o + nb);
        continue;
      }
      for (let z = 0; z < nb - 1; z++) q[o + z] = Math.trunc((a1 * top[p1 + z]! + a2 * top[p2 + z]! + a3 * bottom[p1 + z]! + a4 * bottom[p2 + z]!) / (4.0 * a));
      q[o + nb - 1] = Math.trunc(a);
    }
    return q;
  }
}

/** Halver.halve for 3 channels without alpha (every JPEG band), the pairs inside the row without a branch: about twice as fast. */
function halveRgb(width: number, top: Uint8Array, bottom: Uint8Array, q: Uint8Array): Uint8Array {
  const pairs = width >> 1;
  let p = 0;
  let o = 0;
  for (let x = 0; x < pairs; x++, p += 6, o += 3) {
    q[o] = (top[p]! + top[p + 3]! + bottom[p]! + bottom[p + 3]! + 2) >> 2;
    q[o + 1] = (top[p + 1]! + top[p + 4]! + bottom[p + 1]! + bottom[p + 4]! + 2) >> 2;
    q[o + 2] = (top[p + 2]! + top[p + 5]! + bottom[p + 2]! + bottom[p + 5]! + 2) >> 2;
  }
  if (width & 1) {
    // An odd last column is paired with itself.
    q[o] = (2 * top[p]! + 2 * bottom[p]! + 2) >> 2;
    q[o + 1] = (2 * top[p + 1]! + 2 * bottom[p + 1]! + 2) >> 2;
    q[o + 2] = (2 * top[p + 2]! + 2 * bottom[p + 2]! + 2) >> 2;
  }
  return q;
}
