/** Adam7 PNG -> non-interlaced PNG in bounded memory: same pixels and metadata as libvips decodes from the original. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { deinterlacePng, deinterlaceToStream, readPngHeader } from '../shared/tiling/png-deinterlace.js';
import { jpegEncoderFor, probeImage, tileImage } from '../shared/tiling/index.js';
import { HugemapError } from '../shared/errors.js';
import { gradient, tempDir } from './helpers/fixtures.js';
import { openPipes } from './helpers/open-pipes.js';

const tmp = await tempDir('hugemap-deinterlace-');
after(() => tmp.remove());

/** Pseudo-random bytes: every row differs, so libvips' adaptive filtering picks all five filter types. */
function noise(width: number, height: number, channels: 1 | 2 | 3 | 4): Sharp {
  const data = Buffer.alloc(width * height * channels);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    // Half smooth, half random, so Sub/Up/Average/Paeth all win somewhere.
    data[i] = i % 3 === 0 ? s >>> 24 : (i >> 2) & 255;
  }
  return sharp(data, { raw: { width, height, channels } });
}

interface Kind {
  name: string;
  channels: 1 | 2 | 3 | 4;
  encode: (s: Sharp) => Sharp;
  /** Expected IHDR of the output: [bit depth, colour type]. */
  ihdr: [number, number];
}

const interlaced = { progressive: true, adaptiveFiltering: true } as const;
const KINDS: Kind[] = [
  { name: 'RGB8', channels: 3, encode: (s) => s.png(interlaced), ihdr: [8, 2] },
  { name: 'RGBA8', channels: 4, encode: (s) => s.png(interlaced), ihdr: [8, 6] },
  { name: 'grey8', channels: 1, encode: (s) => s.toColourspace('b-w').png(interlaced), ihdr: [8, 0] },
  { name: 'grey+alpha8', channels: 2, encode: (s) => s.toColourspace('b-w').png(interlaced), ihdr: [8, 4] },
  { name: 'grey16', channels: 1, encode: (s) => s.toColourspace('grey16').png(interlaced), ihdr: [16, 0] },
  { name: 'RGB16', channels: 3, encode: (s) => s.toColourspace('rgb16').png(interlaced), ihdr: [16, 2] },
  { name: 'RGBA16', channels: 4, encode: (s) => s.toColourspace('rgb16').png(interlaced), ihdr: [16, 6] },
  { name: 'palette8+tRNS', channels: 4, encode: (s) => s.png({ ...interlaced, palette: true }), ihdr: [8, 3] },
  { name: 'palette2', channels: 3, encode: (s) => s.png({ ...interlaced, palette: true, colours: 4 }), ihdr: [2, 3] },
];
// 1x1 and 3x5 leave most passes empty; 9x17 and 257x129 end mid-block in both directions.
const SIZES: Array<[number, number]> = [[1, 1], [3, 5], [9, 17], [257, 129]];

for (const kind of KINDS) {
  test(`${kind.name}: same pixels as sharp decodes from the interlaced original, all sizes`, async () => {
    for (const [width, height] of SIZES) {
      const input = tmp.file(`${kind.name}-${width}x${height}.png`);
      const output = tmp.file(`${kind.name}-${width}x${height}-flat.png`);
      await kind.encode(noise(width, height, kind.channels)).toFile(input);
      assert.equal((await readPngHeader(input))?.interlace, 1, 'the fixture is interlaced');

      const result = await deinterlacePng(input, output);

      const header = await readPngHeader(output);
      assert.deepEqual([header?.width, header?.height, header?.interlace], [width, height, 0]);
      assert.deepEqual([header?.bitDepth, header?.colourType], kind.ihdr, `${width}x${height} keeps depth and colour type`);
      const want = await sharp(input).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const got = await sharp(output).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      assert.deepEqual(got.info, want.info, `${width}x${height} info`);
      assert.ok(got.data.equals(want.data), `${width}x${height}: pixels differ`);
      assert.equal(result.outputBytes, (await readFile(output)).length);
    }
  });
}

test('sub-byte grey (1-bit) de-interlaces exactly', async () => {
  const input = tmp.file('grey1.png');
  await writeFile(input, await handMadeGrey1(37, 23));
  const output = tmp.file('grey1-flat.png');
  await deinterlacePng(input, output);
  assert.deepEqual([(await readPngHeader(output))?.bitDepth, (await readPngHeader(output))?.interlace], [1, 0]);
  assert.ok((await sharp(output).raw().toBuffer()).equals(await sharp(input).raw().toBuffer()));
});

test('colour metadata and text survive; unknown unsafe-to-copy chunks are dropped', async () => {
  const base = tmp.file('icc-base.png');
  await gradient(40, 30).withIccProfile('p3').png({ progressive: true }).toFile(base);
  const gama = chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]));
  const text = chunk('tEXt', Buffer.from('Comment\0made for a test', 'latin1'));
  const unknownUnsafe = chunk('prVT', Buffer.from('drop me'));
  const input = tmp.file('icc.png');
  await writeFile(input, insertAfterIhdr(await readFile(base), [gama, text, unknownUnsafe]));
  const output = tmp.file('icc-flat.png');

  await deinterlacePng(input, output);

  const inChunks = chunks(await readFile(input));
  const outChunks = chunks(await readFile(output));
  for (const type of ['iCCP', 'gAMA', 'tEXt']) {
    const want = inChunks.find((c) => c.type === type)?.data;
    assert.ok(want, `fixture has ${type}`);
    assert.deepEqual(outChunks.find((c) => c.type === type)?.data, want, `${type} copied verbatim`);
  }
  assert.equal(outChunks.some((c) => c.type === 'prVT'), false);
  assert.deepEqual(outChunks[0]?.type, 'IHDR');
  assert.deepEqual(outChunks.at(-1)?.type, 'IEND');
  const [metaIn, metaOut] = [await sharp(input).metadata(), await sharp(output).metadata()];
  assert.ok(metaOut.icc?.equals(metaIn.icc!), 'same ICC profile as sharp reads it');
  assert.deepEqual([metaOut.isProgressive, metaIn.isProgressive], [false, true]);
});

/** Channels of a PNG colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** What deinterlaceToStream writes, collected (a slow reader: one write at a time, each answered later). */
async function streamed(input: string, tmpDir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      parts.push(Buffer.from(chunk)); // a copy: the writer may reuse its buffer once this one is written
      setImmediate(done);
    },
  });
  const result = await deinterlaceToStream(input, out, { tmpDir });
  const png = Buffer.concat(parts);
  assert.equal(result.outputBytes, png.length);
  return png;
}

for (const kind of KINDS) {
  test(`${kind.name}: the stream for the cut is a non-interlaced PNG of the same pixels, all sizes, and leaves no temp files`, async () => {
    const scratch = tmp.file(`stream-scratch-${kind.name}`);
    await mkdir(scratch);
    for (const [width, height] of SIZES) {
      const input = tmp.file(`stream-${kind.name}-${width}x${height}.png`);
      await kind.encode(noise(width, height, kind.channels)).toFile(input);
      const png = await streamed(input, scratch);
      const out = tmp.file(`stream-${kind.name}-${width}x${height}-flat.png`);
      await writeFile(out, png);
      const header = await readPngHeader(out);
      assert.deepEqual([header?.width, header?.height, header?.interlace, header?.bitDepth, header?.colourType], [width, height, 0, ...kind.ihdr]);
      const want = await sharp(input).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      // libvips checks every chunk's CRC; it skips the zlib stream's Adler-32, which zlib checks here.
      const got = await sharp(out, { failOn: 'warning' }).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
      const image = inflateSync(Buffer.concat(chunks(png).filter((c) => c.type === 'IDAT').map((c) => c.data)));
      assert.equal(image.length, height * (1 + Math.ceil((width * kind.ihdr[0] * CHANNELS[kind.ihdr[1]]!) / 8)), `${width}x${height}: rows`);
      assert.deepEqual(got.info, want.info, `${width}x${height} info`);
      assert.ok(got.data.equals(want.data), `${width}x${height}: pixels differ`);
    }
    assert.deepEqual(await readdir(scratch), []);
  });
}

test('an interlaced RGB PNG with JPEG tiles goes direct, streamed into the cut: the tiles of its non-interlaced twin, no files left', async () => {
  // Odd sizes (edge tiles on every level) and noise across several 64 KiB stored blocks per batch.
  const flat = tmp.file('direct-twin.png');
  const adam7 = tmp.file('direct-twin-interlaced.png');
  await noise(1301, 517, 3).png().toFile(flat);
  await noise(1301, 517, 3).png({ progressive: true }).toFile(adam7);
  const limit = { maxPixels: 1e9 };
  const probe = await probeImage(adam7, limit);
  assert.deepEqual([probe.progressive, probe.needsIntermediate], [true, true]);
  assert.equal(jpegEncoderFor('direct', adam7, probe, 'jpeg'), 'direct');
  assert.equal(jpegEncoderFor('direct', adam7, probe, 'png'), null);

  const scratch = tmp.file('direct-scratch');
  await mkdir(scratch);
  const stages: string[] = [];
  const a = await tileImage(flat, tmp.file('direct-tiles-flat'), { ...limit, jpegEncoder: 'direct' });
  // After a first direct cut: its Huffman pass thread keeps the pipes of its own event loop.
  const pipesBefore = await openPipes();
  const b = await tileImage(adam7, tmp.file('direct-tiles-adam7'), { ...limit, jpegEncoder: 'direct', tmpDir: scratch, onProgress: (p) => stages.push(p.stage) });
  const c = await tileImage(adam7, tmp.file('sharp-tiles-adam7'), { ...limit, jpegEncoder: 'sharp', tmpDir: scratch });
  assert.deepEqual([a.jpegEncoder, b.jpegEncoder, c.jpegEncoder], ['direct', 'direct', 'sharp']);
  assert.equal(stages.includes('prepare'), false, 'no rewritten file is prepared');
  assert.deepEqual([b.width, b.height, b.tiles, b.bytes], [a.width, a.height, a.tiles, a.bytes]);
  for (let level = 0; level < a.levels; level++) {
    const dir = (root: string) => join(tmp.file(root), 'image_files', String(level));
    const names = (await readdir(dir('direct-tiles-flat'))).sort();
    assert.deepEqual((await readdir(dir('direct-tiles-adam7'))).sort(), names);
    for (const name of names) {
      // The same pixels in, the same encoder: the same bytes.
      assert.ok((await readFile(join(dir('direct-tiles-adam7'), name))).equals(await readFile(join(dir('direct-tiles-flat'), name))), `level ${level} tile ${name}`);
      const [x, y] = [await sharp(join(dir('direct-tiles-adam7'), name)).raw().toBuffer(), await sharp(join(dir('sharp-tiles-adam7'), name)).raw().toBuffer()];
      assert.ok(x.equals(y), `level ${level} tile ${name}: the sharp path's pixels`);
    }
  }
  assert.deepEqual(await readdir(scratch), [], 'no temp files left');
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), [], 'no pipe left open');
});

test('a damaged interlaced PNG on the direct path fails with HUGEMAP_ERR_CORRUPT_IMAGE, leaves no descriptor, temp file or pipe', async () => {
  const good = tmp.file('direct-good.png');
  await noise(600, 300, 3).png({ progressive: true, compressionLevel: 1 }).toFile(good);
  const bytes = await readFile(good);
  const idat = chunks(bytes).find((c) => c.type === 'IDAT')!;
  const badCrc = Buffer.from(bytes);
  badCrc[idat.offset + 8 + 100] ^= 0xff;
  const cases: Array<[string, Buffer]> = [
    ['cut at 60%', bytes.subarray(0, Math.floor(bytes.length * 0.6))],
    // Every row is there; only the end is missing, which the stream checks before its last rows.
    ['cut before IEND', bytes.subarray(0, bytes.length - 12)],
    ['IDAT CRC mismatch', badCrc],
  ];
  await tileImage(good, tmp.file('direct-good-out'), { jpegEncoder: 'direct' });
  const pipesBefore = await openPipes();
  for (const [name, data] of cases) {
    const dir = tmp.file(`direct-corrupt-${name.replace(/\W+/g, '-')}`);
    await mkdir(dir);
    const input = join(dir, 'in.png');
    await writeFile(input, data);
    const scratch = join(dir, 'scratch');
    await mkdir(scratch);
    await assert.rejects(tileImage(input, join(dir, 'out'), { jpegEncoder: 'direct', tmpDir: scratch }), (err: unknown) => {
      assert.ok(err instanceof HugemapError, `${name}: a HugemapError, got ${String(err)}`);
      assert.equal(err.code, 'HUGEMAP_ERR_CORRUPT_IMAGE', name);
      return true;
    });
    await assert.rejects(stat(join(dir, 'out', 'image.dzi')), `${name}: no descriptor`);
    assert.deepEqual(await readdir(scratch), [], `${name}: no temp file`);
  }
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), [], 'no pipe left open');
});

test('damaged interlaced PNGs fail with HUGEMAP_ERR_CORRUPT_IMAGE and leave no files', async () => {
  const good = tmp.file('good.png');
  await noise(300, 200, 3).png({ progressive: true, compressionLevel: 1 }).toFile(good);
  const bytes = await readFile(good);
  const idat = chunks(bytes).find((c) => c.type === 'IDAT')!;

  const badCrc = Buffer.from(bytes);
  badCrc[idat.offset + 8 + 100] ^= 0xff;
  // Garbage inside the zlib stream with a CRC that matches it: only inflate can notice.
  const badDeflate = Buffer.from(bytes);
  badDeflate.fill(0xff, idat.offset + 8 + 10, idat.offset + 8 + 60);
  badDeflate.writeUInt32BE(crc32(badDeflate.subarray(idat.offset + 4, idat.offset + 8 + idat.data.length)), idat.offset + 8 + idat.data.length);
  // A well-formed file whose image data is one row short.
  const header = bytes.subarray(0, 33);
  const short = Buffer.concat([header, chunk('IDAT', deflateSync(Buffer.alloc(100))), chunk('IEND', Buffer.alloc(0))]);

  const cases: Array<[string, Buffer]> = [
    ['cut at 60%', bytes.subarray(0, Math.floor(bytes.length * 0.6))],
    ['cut before IEND', bytes.subarray(0, bytes.length - 12)],
    ['cut inside IHDR', bytes.subarray(0, 20)],
    ['IDAT CRC mismatch', badCrc],
    ['invalid deflate data', badDeflate],
    ['image data too short', short],
  ];
  for (const [name, data] of cases) {
    const dir = tmp.file(`corrupt-${name.replace(/\W+/g, '-')}`);
    await mkdir(dir);
    const input = join(dir, 'in.png');
    await writeFile(input, data);
    await assert.rejects(deinterlacePng(input, join(dir, 'out.png')), (err: unknown) => {
      assert.ok(err instanceof HugemapError, `${name}: a HugemapError, got ${String(err)}`);
      assert.equal(err.code, 'HUGEMAP_ERR_CORRUPT_IMAGE', name);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['in.png'], `${name}: no output or temp file left`);
  }
});

test('an interlaced PNG above the buffered-pixel limit is tiled, with the same tiles as its non-interlaced twin', async () => {
  const flat = tmp.file('twin.png');
  const adam7 = tmp.file('twin-interlaced.png');
  await gradient(700, 500).png().toFile(flat);
  await gradient(700, 500).png({ progressive: true }).toFile(adam7);
  const limit = { maxPixels: 1e9, maxBufferedPixels: 1000 };
  const probe = await probeImage(adam7, limit);
  assert.deepEqual([probe.progressive, probe.needsIntermediate], [true, true]);

  const scratch = tmp.file('tile-scratch');
  await mkdir(scratch);
  const a = await tileImage(flat, tmp.file('tiles-flat'), { ...limit, format: 'png' });
  const b = await tileImage(adam7, tmp.file('tiles-adam7'), { ...limit, format: 'png', tmpDir: scratch });
  assert.equal(b.source.intermediate, 'interlaced-png');
  assert.deepEqual([b.width, b.height, b.tiles], [a.width, a.height, a.tiles]);
  for (const level of [0, 5, a.levels - 1]) {
    const dir = (root: string) => join(root, 'image_files', String(level));
    const names = (await readdir(dir(tmp.file('tiles-flat')))).sort();
    assert.deepEqual((await readdir(dir(tmp.file('tiles-adam7')))).sort(), names);
    for (const name of names) {
      const [x, y] = [await sharp(join(dir(tmp.file('tiles-flat')), name)).raw().toBuffer(), await sharp(join(dir(tmp.file('tiles-adam7')), name)).raw().toBuffer()];
      assert.ok(x.equals(y), `level ${level} tile ${name} has the same pixels`);
    }
  }
  assert.deepEqual(await readdir(scratch), [], 'intermediate removed');
});

// --- PNG byte helpers -------------------------------------------------------

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(type)) >>> 0);
  return Buffer.concat([head, data, crc]);
}

function chunks(png: Buffer): Array<{ type: string; data: Buffer; offset: number }> {
  const found = [];
  for (let at = 8; at + 12 <= png.length; at += 12 + png.readUInt32BE(at)) {
    const length = png.readUInt32BE(at);
    found.push({ type: png.toString('latin1', at + 4, at + 8), data: png.subarray(at + 8, at + 8 + length), offset: at });
  }
  return found;
}

function insertAfterIhdr(png: Buffer, extra: Buffer[]): Buffer {
  return Buffer.concat([png.subarray(0, 33), ...extra, png.subarray(33)]);
}

/** An interlaced 1-bit grey PNG written by hand (libvips only writes sub-byte depths for palettes), filter Sub on every row. */
async function handMadeGrey1(width: number, height: number): Promise<Buffer> {
  const ihdr = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
  const bit = (x: number, y: number) => ((x * 7 + y * 3) % 5 < 2 ? 1 : 0);
  const rows: Buffer[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const pw = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const ph = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (pw === 0) continue;
    for (let j = 0; j < ph; j++) {
      const raw = Buffer.alloc(Math.ceil(pw / 8));
      for (let i = 0; i < pw; i++) if (bit(x0 + i * dx, y0 + j * dy)) raw[i >> 3]! |= 0x80 >> (i & 7);
      const filtered = Buffer.alloc(raw.length);
      for (let k = 0; k < raw.length; k++) filtered[k] = (raw[k]! - (k > 0 ? raw[k - 1]! : 0)) & 255;
      rows.push(Buffer.from([1]), filtered);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
