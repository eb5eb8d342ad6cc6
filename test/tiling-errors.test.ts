/** Bad input fails fast with the right code and leaves nothing that looks complete. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { abandonedWorkSettled, probeImage, tileImage } from '../shared/tiling/index.js';
import { HugemapError } from '../shared/errors.js';
import { gradient, pngBomb, tempDir, truncatedCopy } from './helpers/fixtures.js';

const tmp = await tempDir();
after(() => tmp.remove());

const photo = tmp.file('photo.jpg');
await gradient(1200, 900).jpeg({ quality: 90 }).toFile(photo);
const photoPng = tmp.file('photo.png');
await gradient(600, 400).png().toFile(photoPng);

async function expectCode(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof HugemapError, `a HugemapError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

async function assertNothingLeft(outDir: string): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOENT', `reading ${outDir}: ${String(err)}`);
    return; // not even created
  }
  assert.deepEqual(entries, [], `nothing left in ${outDir}`);
}

const cases: Array<[string, () => Promise<string>, string]> = [
  ['not an image', async () => { await writeFile(tmp.file('notes.jpg'), 'hello, not a picture\n'); return tmp.file('notes.jpg'); }, 'HUGEMAP_ERR_NOT_AN_IMAGE'],
  ['empty file', async () => { await writeFile(tmp.file('empty.png'), ''); return tmp.file('empty.png'); }, 'HUGEMAP_ERR_EMPTY_INPUT'],
  ['truncated JPEG', () => truncatedCopy(photo, tmp.file('cut.jpg'), 0.5), 'HUGEMAP_ERR_CORRUPT_IMAGE'],
  ['truncated PNG', () => truncatedCopy(photoPng, tmp.file('cut.png'), 0.6), 'HUGEMAP_ERR_CORRUPT_IMAGE'],
  ['JPEG cut inside its header', () => truncatedCopy(photo, tmp.file('head.jpg'), 0.0005), 'HUGEMAP_ERR_CORRUPT_IMAGE'],
  ['decompression bomb (PNG header 200000x100000, above the 10 GP default)', () => pngBomb(tmp.file('bomb.png'), 200_000, 100_000), 'HUGEMAP_ERR_TOO_MANY_PIXELS'],
  ['path that does not exist', async () => tmp.file('nope/missing.jpg'), 'HUGEMAP_ERR_INPUT_NOT_FOUND'],
  ['a directory', async () => { await mkdir(tmp.file('a-dir'), { recursive: true }); return tmp.file('a-dir'); }, 'HUGEMAP_ERR_NOT_AN_IMAGE'],
];

for (const [name, make, code] of cases) {
  test(`${name} -> ${code}, nothing left behind`, async () => {
    const input = await make();
    const outDir = tmp.file(`out-${name.replace(/\W+/g, '-')}`);
    const scratch = tmp.file(`scratch-${name.replace(/\W+/g, '-')}`);
    await mkdir(scratch, { recursive: true });
    await expectCode(tileImage(input, outDir, { tmpDir: scratch }), code);
    await assertNothingLeft(outDir);
    assert.deepEqual(await readdir(scratch), [], 'no intermediate left');
  });
}

test('truncated progressive JPEG (intermediate path) -> corrupt, intermediate removed', async () => {
  const progressive = tmp.file('prog.jpg');
  await gradient(1200, 900).jpeg({ quality: 90, progressive: true }).toFile(progressive);
  const input = await truncatedCopy(progressive, tmp.file('prog-cut.jpg'), 0.5);
  const scratch = tmp.file('scratch-prog');
  await mkdir(scratch);
  const outDir = tmp.file('out-prog-cut');
  await expectCode(tileImage(input, outDir, { tmpDir: scratch }), 'HUGEMAP_ERR_CORRUPT_IMAGE');
  await assertNothingLeft(outDir);
  assert.deepEqual(await readdir(scratch), []);
});

test('the pixel limit is decided from the header', async () => {
  const probe = await probeImage(photo, { maxPixels: 2_000_000 });
  assert.deepEqual([probe.width, probe.height, probe.format, probe.needsIntermediate], [1200, 900, 'jpeg', false]);
  await expectCode(probeImage(photo, { maxPixels: 1_000_000 }), 'HUGEMAP_ERR_TOO_MANY_PIXELS');
  await expectCode(tileImage(photo, tmp.file('out-limit'), { maxPixels: 1_000_000 }), 'HUGEMAP_ERR_TOO_MANY_PIXELS');
});

test('probe flags inputs that cannot stream', async () => {
  const interlaced = tmp.file('interlaced.png');
  await gradient(300, 200).png({ progressive: true }).toFile(interlaced);
  const p = await probeImage(interlaced, { maxPixels: 1e9 });
  assert.deepEqual([p.progressive, p.needsIntermediate], [true, true]);
});

test('progressive JPEGs above the buffered-pixel limit are rewritten as baseline; only kinds the rewrite cannot handle are refused', async () => {
  const progressive = tmp.file('limit-prog.jpg');
  await gradient(1200, 900).jpeg({ quality: 90, progressive: true }).toFile(progressive);
  // Arithmetic coding: libvips decodes it, but only whole (jpeg-progressive.ts cannot rewrite it). jpegtran: Debian's libjpeg-turbo-progs.
  const arithmetic = tmp.file('limit-arith.jpg');
  await promisify(execFile)('jpegtran', ['-arithmetic', '-progressive', '-outfile', arithmetic, photo]);
  const interlaced = tmp.file('limit-interlaced.png');
  await gradient(1200, 900).png({ progressive: true }).toFile(interlaced);
  const limit = { maxPixels: 1e9, maxBufferedPixels: 1_000_000 }; // 1200 x 900 = 1,080,000 pixels
  await expectCode(probeImage(arithmetic, limit), 'HUGEMAP_ERR_NOT_STREAMABLE');
  const out = tmp.file('limit-out');
  await expectCode(tileImage(arithmetic, out, limit), 'HUGEMAP_ERR_NOT_STREAMABLE');
  await assertNothingLeft(out);
  // At the limit's edge it is accepted.
  assert.equal((await probeImage(arithmetic, { maxPixels: 1e9, maxBufferedPixels: 1_080_000 })).progressive, true);
  // Huffman-coded progressive JPEGs are rewritten as baseline on disk first, so no limit applies to them ...
  const p = await probeImage(progressive, limit);
  assert.deepEqual([p.progressive, p.needsIntermediate], [true, true]);
  const manifest = await tileImage(progressive, tmp.file('limit-prog-out'), limit);
  assert.deepEqual([manifest.width, manifest.height, manifest.source.intermediate], [1200, 900, 'progressive-jpeg']);
  // ... nor to interlaced PNGs (rewritten non-interlaced, png-deinterlace.ts) or baseline JPEGs (they stream).
  assert.equal((await probeImage(interlaced, limit)).needsIntermediate, true);
  assert.equal((await probeImage(photo, limit)).width, 1200);
});

test('invalid options are refused before any work', async () => {
  await expectCode(tileImage(photo, tmp.file('o1'), { quality: 0 }), 'HUGEMAP_ERR_BAD_REQUEST');
  await expectCode(tileImage(photo, tmp.file('o2'), { quality: 101 }), 'HUGEMAP_ERR_BAD_REQUEST');
  await expectCode(tileImage(photo, tmp.file('o3'), { format: 'gif' as never }), 'HUGEMAP_ERR_BAD_REQUEST');
});

test('a previous result is replaced cleanly, and a failed run leaves no descriptor', async () => {
  const outDir = tmp.file('replace');
  const big = await tileImage(photo, outDir);
  const small = tmp.file('small.png');
  await gradient(100, 50).png().toFile(small);
  // A crashed earlier run's staging folder is cleaned up too.
  await mkdir(join(outDir, '.hugemap-partial-999-deadbeef', 'image_files'), { recursive: true });
  const manifest = await tileImage(small, outDir);
  assert.ok(big.levels > manifest.levels);
  assert.deepEqual((await readdir(outDir)).sort(), ['image.dzi', 'image_files', 'manifest.json', 'thumbnail.jpg']);
  assert.equal((await readdir(join(outDir, 'image_files'))).length, manifest.levels, 'no level folders of the old image');
  assert.match(await readFile(join(outDir, 'image.dzi'), 'utf8'), /Height="50" Width="100"/);

  await writeFile(tmp.file('junk.png'), 'junk');
  await expectCode(tileImage(tmp.file('junk.png'), outDir), 'HUGEMAP_ERR_NOT_AN_IMAGE');
  await assertNothingLeft(outDir);
});

test('an aborted run rejects with the abort reason and publishes nothing', async () => {
  const outDir = tmp.file('aborted');
  const controller = new AbortController();
  const reason = new Error('stop');
  const work = tileImage(photo, outDir, {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.stage === 'tile') controller.abort(reason);
    },
  });
  await assert.rejects(work, (err) => err === reason);
  await assert.rejects(readFile(join(outDir, 'image.dzi')), { code: 'ENOENT' });
  // libvips cannot be interrupted: the abandoned call's late files are removed once it settles.
  // (Waiting for an empty folder instead raced: the folder can be empty before libvips, still
  // running, creates its output folder again.)
  await abandonedWorkSettled();
  await assertNothingLeft(outDir);
});
