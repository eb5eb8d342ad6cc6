/**
 * optimiseHuffman (jpeg-huffman-optimise.ts): lossless re-coding of a baseline
 * JPEG with optimal Huffman tables. Checked against libjpeg itself: the same
 * decoded pixels, and the very entropy-coded bytes `jpegtran -optimize` writes
 * for the same file. Kinds it does not rewrite, and damaged files, give null.
 * Fixtures: cjpeg / jpegtran from libjpeg-turbo-progs, and sharp.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { BitWriter, EncodeTable, type HuffmanSpec } from '../shared/tiling/jpeg-huffman.js';
import { encodeTokens, optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';
import { EOI, RST0 } from '../shared/tiling/jpeg-markers.js';
import { tempDir } from './helpers/fixtures.js';

const run = promisify(execFile);
const tmp = await tempDir('hugemap-huffman-');
after(() => tmp.remove());

await run('jpegtran', ['-version']).catch((err: unknown) => {
  throw new Error(`these tests need jpegtran and cjpeg (Debian: apt-get install libjpeg-turbo-progs): ${String(err)}`);
});

/** Smooth areas, edges and noise: long zero runs and large coefficients alike. */
function picture(width: number, height: number, channels: 1 | 3): Buffer {
  const data = Buffer.alloc(width * height * channels);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const x = Math.floor(i / channels) % width;
    const y = Math.floor(i / channels / width);
    data[i] = x % 37 < 9 ? s >>> 24 : ((x * 5 + y * 3 + (i % channels) * 60) >> 1) & 255;
  }
  return data;
}

/** A cjpeg-written JPEG (libjpeg's standard Huffman tables) of a generated picture. */
async function cjpeg(name: string, width: number, height: number, args: string[], grey = false): Promise<Buffer> {
  const pnm = tmp.file(`${name}.${grey ? 'pgm' : 'ppm'}`);
  await writeFile(pnm, Buffer.concat([Buffer.from(`${grey ? 'P5' : 'P6'}\n${width} ${height}\n255\n`), picture(width, height, grey ? 1 : 3)]));
  const out = tmp.file(`${name}.jpg`);
  await run('cjpeg', [...args, '-outfile', out, pnm]);
  return readFile(out);
}

async function jpegtranOptimize(input: Buffer, name: string): Promise<Buffer> {
  const path = tmp.file(`${name}-in.jpg`);
  await writeFile(path, input);
  return (await run('jpegtran', ['-optimize', '-copy', 'all', path], { encoding: 'buffer' })).stdout;
}

/** The entropy-coded data: everything after the SOS segment. */
function scanData(jpeg: Buffer): Buffer {
  let at = 2;
  for (;;) {
    const marker = jpeg[at + 1]!;
    const length = jpeg.readUInt16BE(at + 2);
    if (marker === 0xda) return jpeg.subarray(at + 2 + length);
    at += 2 + length;
  }
}

const decoded = (jpeg: Buffer) => sharp(jpeg).raw().toBuffer();

function restartMarkers(jpeg: Buffer): number {
  const data = scanData(jpeg);
  let n = 0;
  for (let i = 0; i + 1 < data.length; i++) if (data[i] === 0xff && (data[i + 1]! & 0xf8) === 0xd0) n++;
  return n;
}

const KINDS: Array<[string, (name: string, w: number, h: number) => Promise<Buffer>]> = [
  ['4:2:0', (n, w, h) => cjpeg(n, w, h, ['-quality', '85'])],
  ['4:4:4', (n, w, h) => cjpeg(n, w, h, ['-quality', '92', '-sample', '1x1'])],
  ['4:2:2', (n, w, h) => cjpeg(n, w, h, ['-quality', '75', '-sample', '2x1'])],
  ['grey', (n, w, h) => cjpeg(n, w, h, ['-quality', '90', '-grayscale'], true)],
  ['sharp, standard tables', (n, w, h) => sharp(picture(w, h, 3), { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 85, optimiseCoding: false }).toBuffer()],
];
// 1x1 is less than a block; 17x9 and 257x129 end mid-block and mid-MCU; 256x256 is a whole tile.
const SIZES: Array<[number, number]> = [[1, 1], [17, 9], [256, 256], [257, 129]];

test('same pixels, and the entropy-coded bytes of jpegtran -optimize, for every kind and size', async () => {
  for (const [kind, make] of KINDS) {
    for (const [w, h] of SIZES) {
      const label = `${kind} ${w}x${h}`;
      const name = `${kind.replace(/\W+/g, '-')}-${w}x${h}`;
      const input = await make(name, w, h);
      const out = optimiseHuffman(input);
      assert.ok(out, `${label}: not rewritten`);
      assert.ok(out.length < input.length, `${label}: ${out.length} bytes, not fewer than ${input.length}`);
      assert.deepEqual(await decoded(out), await decoded(input), `${label}: pixels differ`);
      assert.deepEqual(scanData(out), scanData(await jpegtranOptimize(input, name)), `${label}: entropy-coded data differs from jpegtran -optimize`);
      assert.equal(optimiseHuffman(out), null, `${label}: a second pass still found bytes to save`);
    }
  }
});

test('restart intervals stay where they were', async () => {
  for (const [name, args] of [['restart-mcus', ['-restart', '3B']], ['restart-rows', ['-restart', '1']]] as const) {
    const input = await cjpeg(name, 257, 129, ['-quality', '85', ...args]);
    const out = optimiseHuffman(input);
    assert.ok(out, name);
    assert.ok(out.length < input.length, name);
    assert.deepEqual(await decoded(out), await decoded(input), name);
    const markers = restartMarkers(input);
    assert.ok(markers > 3, `${name}: fixture has ${markers} restart markers`);
    assert.equal(restartMarkers(out), markers, name);
  }
});

test('kinds it does not rewrite give null: progressive, arithmetic-coded, not a JPEG', async () => {
  const base = await cjpeg('base', 64, 48, ['-quality', '85']);
  assert.equal(optimiseHuffman(await cjpeg('progressive', 64, 48, ['-quality', '85', '-progressive'])), null);
  assert.equal(optimiseHuffman(await cjpeg('arithmetic', 64, 48, ['-quality', '85', '-arithmetic'])), null);
  assert.equal(optimiseHuffman(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer()), null);
  assert.equal(optimiseHuffman(Buffer.alloc(0)), null);
  assert.ok(optimiseHuffman(base), 'the baseline control is rewritten');
});

test('a bit pattern that is no code of its table is refused (null), not decoded as something', async () => {
  const input = await cjpeg('no-code', 64, 48, ['-quality', '85']);
  // Sixteen one bits (0xFF stuffed as 0xFF00): no Huffman code is all ones, so none matches.
  const damaged = Buffer.from(input);
  damaged.set([0xff, 0x00, 0xff, 0x00, 0xff, 0x00], input.length - scanData(input).length);
  assert.ok(optimiseHuffman(input), 'the undamaged control is rewritten');
  assert.equal(optimiseHuffman(damaged), null);
});

test('damaged input gives null or a JPEG, never an exception: truncation, and 300 seeded byte changes', async () => {
  const input = await cjpeg('damage', 120, 80, ['-quality', '85']);
  for (const cut of [input.length - 2, input.length - 40, Math.floor(input.length / 2), 300, 20, 3]) {
    assert.equal(optimiseHuffman(input.subarray(0, cut)), null, `cut at ${cut}`);
  }
  let s = 42;
  const next = () => (s = (s * 1103515245 + 12345) >>> 0);
  let rewritten = 0;
  for (let i = 0; i < 300; i++) {
    const copy = Buffer.from(input);
    for (let k = 0; k <= i % 3; k++) copy[next() % copy.length] = next() & 255;
    const out = optimiseHuffman(copy);
    if (out) {
      rewritten++;
      assert.equal(out[0], 0xff);
      assert.equal(out[1], 0xd8);
      assert.ok(out.length < copy.length);
    }
  }
  // Most single changes land in the entropy-coded data and still decode to something: those are rewritten.
  assert.ok(rewritten > 0 && rewritten < 300, `${rewritten} of 300 rewritten`);
});

test('encodeTokens writes the bytes BitWriter writes: codes of every length with up to 15 extra bits, restarts, stuffing', () => {
  let seed = 7;
  const below = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  // Random codes of 1..16 bits for every slot and symbol; all-ones codes included, for 0xFF stuffing.
  const codeOf = new Int32Array(8 * 256);
  for (let i = 0; i < codeOf.length; i++) {
    const length = 1 + below(16);
    codeOf[i] = (length << 16) | (below(4) === 0 ? (1 << length) - 1 : below(1 << length));
  }
  const count = 20_000;
  const tokens = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const n = below(16);
    const symbol = (below(16) << 4) | n;
    tokens[i] = ((n === 0 ? 0 : below(1 << n)) << 12) | (below(8) << 8) | symbol;
  }
  const restarts = [1, 2, 97, 98, 1000, 5003, 19_999];

  const reference = new BitWriter(count * 8);
  for (let i = 0; i < count; i++) {
    const r = restarts.indexOf(i);
    if (r >= 0) reference.marker(RST0 + (r & 7));
    const token = tokens[i]!;
    const code = codeOf[token & 0x7ff]!;
    reference.put(code & 0xffff, code >>> 16);
    reference.put(token >>> 12, token & 15);
  }
  reference.marker(EOI);
  const expected = reference.take();

  const bytes = new Uint8Array(count * 8);
  const used = encodeTokens(tokens, count, restarts, codeOf, bytes);
  assert.equal(used, expected.length);
  assert.ok(Buffer.from(bytes.subarray(0, used)).equals(Buffer.from(expected)), 'bytes differ from BitWriter');
});

/** A Huffman spec giving `symbols` the code lengths in `lengths` (same order; lengths ascending). */
function specOf(symbols: number[], lengths: number[]): HuffmanSpec {
  const counts = new Uint8Array(17);
  for (const l of lengths) counts[l]!++;
  return { counts, symbols: Uint8Array.from(symbols) };
}

/**
 * A grey baseline JPEG, 64 blocks by 16, whose own Huffman tables give rare symbols 16-bit codes,
 * with random coefficients: long codes followed by up to 10 extra bits, at every bit position.
 */
function longCodeJpeg(): Buffer {
  let seed = 99;
  const below = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const dcSymbols = Array.from({ length: 12 }, (_, i) => i);
  const dc = new EncodeTable(specOf(dcSymbols, dcSymbols.map((i) => (i < 11 ? i + 1 : 12))));
  const acAll = [0x00, 0xf0];
  for (let run = 0; run < 16; run++) for (let size = 1; size <= 10; size++) acAll.push((run << 4) | size);
  // End of block 2 bits, four short ones, 100 of 8 bits, the other 57 (sizes up to 10 among them) of 16 bits.
  const ac = new EncodeTable(specOf(acAll, acAll.map((_, i) => (i === 0 ? 2 : i <= 4 ? 4 : i <= 104 ? 8 : 16))));
  const longOnes = acAll.slice(105);
  const w = new BitWriter(1 << 20);
  const put = (table: EncodeTable, symbol: number, extraBits: number) => {
    w.put(table.code[symbol]!, table.size[symbol]!);
    w.put(extraBits === 0 ? 0 : below(1 << extraBits), extraBits);
  };
  const blocksWide = 64;
  const blocksHigh = 16;
  for (let b = 0; b < blocksWide * blocksHigh; b++) {
    const dcSize = below(5);
    put(dc, dcSize, dcSize);
    for (let k = 1; k < 64; ) {
      const choice = below(10);
      if (choice === 0) {
        put(ac, 0x00, 0); // end of block
        break;
      }
      let rs = choice < 4 ? longOnes[below(longOnes.length)]! : acAll[2 + below(acAll.length - 2)]!;
      if (k + (rs >> 4) > 63) rs = 0x01;
      put(ac, rs, rs & 15);
      k += (rs >> 4) + 1;
    }
  }
  w.marker(EOI);
  const segment = (marker: number, payload: Buffer) => Buffer.concat([Buffer.from([0xff, marker, (payload.length + 2) >> 8, (payload.length + 2) & 255]), payload]);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xdb, Buffer.concat([Buffer.from([0]), Buffer.alloc(64, 1)])),
    segment(0xc0, Buffer.from([8, 0, blocksHigh * 8, (blocksWide * 8) >> 8, (blocksWide * 8) & 255, 1, 1, 0x11, 0])),
    segment(0xc4, Buffer.concat([dc.dhtEntry(0, 0), ac.dhtEntry(1, 0)])),
    segment(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0])),
    Buffer.from(w.take()),
  ]);
}

test('tables with 16-bit codes: rare symbols with many extra bits decode and re-code as jpegtran -optimize does', async () => {
  const input = longCodeJpeg();
  const out = optimiseHuffman(input);
  assert.ok(out, 'not rewritten');
  assert.deepEqual(await decoded(out), await decoded(input), 'pixels differ');
  assert.deepEqual(scanData(out), scanData(await jpegtranOptimize(input, 'long-codes')), 'entropy-coded data differs from jpegtran -optimize');
});
