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
import { optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';
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
