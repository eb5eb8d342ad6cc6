/**
 * JPEG slices (shared/tiling/jpeg-slice.ts): a band's JPEG, made from the original's header and the
 * band's bytes only, decodes to exactly the whole image's rows of that band, for every chroma
 * layout, grey images and optimised Huffman tables; files it cannot slice get null.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { tempDir } from './helpers/fixtures.js';
import { noisy } from './helpers/split-fixtures.js';
import { bandAt, planBands, type BandPlan } from '../shared/tiling/band-plan.js';
import { dcSteps, writeJpegSlice } from '../shared/tiling/jpeg-slice.js';
import { indexJpegSlices } from '../shared/tiling/jpeg-slice-index.js';

const tmp = await tempDir();
after(() => tmp.remove());

async function raw(input: string | Buffer): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Slices `input` by `plan`; each slice's band rows must equal the whole image's. Returns the slices' sizes in bytes. */
async function assertSlicesMatch(name: string, input: string, plan: BandPlan): Promise<number[]> {
  const index = await indexJpegSlices(input, plan);
  assert.ok(index, `${name}: sliceable`);
  assert.equal(index.slices.length, plan.bands);
  const whole = await raw(input);
  const file = await readFile(input);
  const header = file.subarray(0, index.headerBytes);
  const sizes: number[] = [];
  for (let i = 0; i < plan.bands; i++) {
    const band = bandAt(plan, i);
    const slice = index.slices[i]!;
    assert.ok(slice.startByte >= index.headerBytes && slice.endByte <= file.length && slice.startByte < slice.endByte, `${name} band ${i}: a stretch of the data`);
    if (i > 0) assert.ok(slice.startByte > index.headerBytes, `${name} band ${i}: starts inside the data, not at its start`);
    const entropy = tmp.file(`${name}-${i}.bin`);
    await writeFile(entropy, file.subarray(slice.startByte, slice.endByte));
    const out = tmp.file(`${name}-${i}.jpg`);
    assert.equal(await writeJpegSlice(Buffer.from(header), entropy, slice, out), true);
    const part = await raw(out);
    assert.equal(part.width, plan.width);
    assert.equal(part.height, slice.height, `${name} band ${i}: the slice's height`);
    const rowBytes = plan.width * whole.channels;
    const ours = part.data.subarray(slice.cropTop * rowBytes, (slice.cropTop + band.height) * rowBytes);
    const theirs = whole.data.subarray(band.top * rowBytes, (band.top + band.height) * rowBytes);
    assert.equal(ours.length, theirs.length);
    if (!ours.equals(theirs)) {
      const at = ours.findIndex((v, k) => v !== theirs[k]);
      assert.fail(`${name} band ${i}: first differing pixel at row ${Math.floor(at / rowBytes)} of the band, column ${Math.floor((at % rowBytes) / whole.channels)}`);
    }
    sizes.push((await readFile(out)).length);
  }
  return sizes;
}

const cases: Array<{ name: string; width: number; height: number; make: (s: Sharp) => Sharp }> = [
  { name: '420', width: 1301, height: 2100, make: (s) => s.jpeg({ quality: 88 }) },
  { name: '444-optimised', width: 777, height: 1555, make: (s) => s.jpeg({ quality: 92, chromaSubsampling: '4:4:4', optimiseCoding: true }) },
  { name: 'grey', width: 530, height: 1290, make: (s) => s.greyscale().jpeg({ quality: 80 }) },
];

for (const c of cases) {
  test(`JPEG slices (${c.name}, ${c.width} x ${c.height}): every band decodes to the whole image's rows`, async () => {
    const input = tmp.file(`${c.name}.jpg`);
    await c.make(noisy(c.width, c.height, 3)).toFile(input);
    // Bands of 256 rows (k = 0) and of 1024 (k = 2): the last band ends where the image does.
    for (const splitPixels of [c.width * 256, c.width * 1024]) {
      const plan = planBands(c.width, c.height, splitPixels)!;
      assert.ok(plan.bands >= 2);
      const sizes = await assertSlicesMatch(`${c.name}-${plan.bandHeight}`, input, plan);
      const total = (await readFile(input)).length;
      assert.ok(sizes.reduce((a, b) => a + b, 0) < total * 2, 'the slices together are not much more than the file: each holds its band and a margin');
    }
  });
}

test('JPEG slices: a progressive file is not sliceable (its bands decode the rows above)', async () => {
  const input = tmp.file('progressive.jpg');
  await noisy(600, 1100, 3).jpeg({ progressive: true }).toFile(input);
  assert.equal(await indexJpegSlices(input, planBands(600, 1100, 600 * 256)!), null);
});

test('JPEG slices: a file cut short is not indexed (the band that decodes it reports the damage)', async () => {
  const input = tmp.file('short.jpg');
  await noisy(600, 1100, 3).jpeg().toFile(input);
  const file = await readFile(input);
  await writeFile(input, file.subarray(0, Math.floor(file.length * 0.6)));
  assert.equal(await indexJpegSlices(input, planBands(600, 1100, 600 * 256)!), null);
});

test('dcSteps: differences of the table\'s categories that add up to the prediction', () => {
  const all = () => true;
  assert.deepEqual(dcSteps(0, 3, all), [0, 0, 0]);
  assert.deepEqual(dcSteps(-700, 3, all), [-700, 0, 0]);
  // Only categories 0..3 (at most +-7): 20 = 7 + 7 + 6... as the largest steps first.
  const small = (c: number) => c <= 3;
  const steps = dcSteps(20, 5, small)!;
  assert.equal(steps.reduce((a, b) => a + b, 0), 20);
  assert.ok(steps.every((s) => Math.abs(s) <= 7));
  assert.equal(dcSteps(20, 2, small), null, 'too few blocks');
  assert.equal(dcSteps(0, 2, (c) => c > 0), null, 'no code for a zero difference');
});
