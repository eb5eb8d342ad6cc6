/**
 * The 'direct' JPEG encoder (dzsave-direct.ts + huffman-pass.ts): dzsave's
 * direct mode in sharp's own libvips, then each tile's Huffman tables optimised.
 * Same files, same decoded pixels and about the same bytes as the sharp
 * encoder; inputs that need any conversion fall back to the sharp path; bad
 * input fails the same way; the checkpoint names it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { HugemapError } from '../shared/errors.js';
import { tilerId } from '../shared/tiling/encoders.js';
import { directDzsaveAvailable, directSafePath, dzsaveDirect } from '../shared/tiling/dzsave-direct.js';
import { optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';
import { DEFAULT_MAX_BUFFERED_PIXELS, DEFAULT_MAX_PIXELS, jpegEncoderFor, probeImage, tileImage, type TileManifest } from '../shared/tiling/index.js';
import { gradient, tempDir, truncatedCopy } from './helpers/fixtures.js';

const tmp = await tempDir('hugemap-direct-');
after(() => tmp.remove());

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

const probe = (path: string) => probeImage(path, { maxPixels: DEFAULT_MAX_PIXELS, maxBufferedPixels: DEFAULT_MAX_BUFFERED_PIXELS });

async function decoded(path: string): Promise<Buffer> {
  return sharp(path).raw().toBuffer();
}

let plain: string;
let viaSharp: TileManifest;
let direct: TileManifest;

before(async () => {
  // 1500 x 700, sRGB, no profile: odd sizes so edge tiles are cut, several tiles per level.
  plain = tmp.file('plain.jpg');
  await gradient(1500, 700).jpeg({ quality: 92 }).toFile(plain);
  viaSharp = await tileImage(plain, tmp.file('sharp'), { jpegEncoder: 'sharp' });
  direct = await tileImage(plain, tmp.file('direct'), { jpegEncoder: 'direct' });
});

test('direct mode loads here (sharp\'s libvips through koffi)', () => {
  assert.equal(directDzsaveAvailable(), true);
});

test('the same folder and the same tiles pixel for pixel as the sharp encoder, every tile Huffman-optimised', async () => {
  assert.equal(direct.jpegEncoder, 'direct');
  assert.equal(viaSharp.jpegEncoder, 'sharp');
  const files = await filesUnder(tmp.file('direct'));
  assert.deepEqual(files, await filesUnder(tmp.file('sharp')));
  assert.ok(!files.some((f) => f.endsWith('vips-properties.xml')), 'no stray dzsave files');
  assert.equal(direct.tiles, viaSharp.tiles);
  const tiles = files.filter((f) => f.startsWith('image_files/'));
  assert.equal(tiles.length, direct.tiles);
  let bytes = 0;
  for (const f of tiles) {
    const tile = await readFile(tmp.file(join('direct', f)));
    bytes += tile.length;
    assert.deepEqual(await decoded(tmp.file(join('direct', f))), await decoded(tmp.file(join('sharp', f))), f);
    // Already optimal: a second pass finds nothing to gain (dzsave's own output would shrink).
    assert.equal(optimiseHuffman(tile), null, f);
  }
  assert.equal(direct.bytes, bytes, 'the manifest counts the bytes after the pass');
  // Both are libjpeg's optimal tables for the same coefficients: within a few header bytes a tile.
  assert.ok(Math.abs(direct.bytes - viaSharp.bytes) < viaSharp.bytes * 0.02, `direct ${direct.bytes} bytes vs sharp ${viaSharp.bytes}`);
  // No metadata in a tile: each is a bare JFIF stream.
  const top = await readFile(tmp.file('direct/image_files/11/0_0.jpeg'));
  assert.equal(top.includes(Buffer.from('Exif\0')), false);
  assert.equal((await sharp(top).metadata()).icc, undefined);
  assert.equal(await readFile(tmp.file('direct/image.dzi'), 'utf8'), await readFile(tmp.file('sharp/image.dzi'), 'utf8'));
});

test('inputs that need a conversion take the sharp path even when direct is asked for', async () => {
  const cases: Array<[string, sharp.Sharp]> = [
    ['rotated.jpg', gradient(300, 200).jpeg().withMetadata({ orientation: 6 })],
    ['grey.jpg', gradient(300, 200).toColourspace('b-w').jpeg()],
    ['p3.jpg', gradient(300, 200).withIccProfile('p3').jpeg()],
    ['cmyk.jpg', gradient(300, 200).toColourspace('cmyk').jpeg()],
    ['alpha.png', gradient(300, 200).ensureAlpha(0.5).png()],
  ];
  for (const [name, image] of cases) {
    const path = tmp.file(name);
    await image.toFile(path);
    assert.equal(jpegEncoderFor('direct', path, await probe(path), 'jpeg'), 'sharp', name);
    const m = await tileImage(path, tmp.file(`out-${name}`), { jpegEncoder: 'direct', format: 'jpeg' });
    assert.equal(m.jpegEncoder, 'sharp', name);
  }
  // A plain sRGB-tagged photo goes direct; PNG and WebP tiles have no JPEG encoder at all.
  const srgb = tmp.file('srgb.jpg');
  await gradient(300, 200).withIccProfile('srgb').jpeg().toFile(srgb);
  assert.equal(jpegEncoderFor('direct', srgb, await probe(srgb), 'jpeg'), 'direct');
  assert.equal(jpegEncoderFor('direct', srgb, await probe(srgb), 'png'), null);
  assert.equal(jpegEncoderFor('sharp', srgb, await probe(srgb), 'jpeg'), 'sharp');
});

test('a progressive JPEG goes direct only where it is rewritten as baseline (above maxBufferedPixels), and its tiles are the baseline twin\'s', async () => {
  const progressive = tmp.file('progressive.jpg');
  await gradient(1500, 700).jpeg({ quality: 92, progressive: true }).toFile(progressive);
  // At the default limit (50 MP) this photo is decoded whole into a TIFF: the sharp path, as before.
  assert.equal(jpegEncoderFor('direct', progressive, await probe(progressive), 'jpeg'), 'sharp');
  const rewritten = { maxPixels: DEFAULT_MAX_PIXELS, maxBufferedPixels: 1500 * 700 - 1 };
  assert.equal(jpegEncoderFor('direct', progressive, await probeImage(progressive, rewritten), 'jpeg'), 'direct');
  const m = await tileImage(progressive, tmp.file('out-progressive'), { ...rewritten, jpegEncoder: 'direct' });
  assert.equal(m.jpegEncoder, 'direct');
  assert.equal(m.source.intermediate, 'progressive-jpeg');
  assert.deepEqual(await filesUnder(tmp.file('out-progressive')), await filesUnder(tmp.file('sharp')));
  // The same quality (92) twin cut as a baseline original: the same decoded tiles.
  const twin = tmp.file('progressive-twin.jpg');
  await gradient(1500, 700).jpeg({ quality: 92 }).toFile(twin);
  await tileImage(twin, tmp.file('out-progressive-twin'), { jpegEncoder: 'direct' });
  for (const f of (await filesUnder(tmp.file('out-progressive'))).filter((f) => f.startsWith('image_files/'))) {
    assert.deepEqual(await decoded(tmp.file(join('out-progressive', f))), await decoded(tmp.file(join('out-progressive-twin', f))), f);
  }
});

test('a path libvips would read as load options is not given to it', async () => {
  assert.equal(directSafePath('/a/b/photo.jpg'), true);
  assert.equal(directSafePath('/a/b/photo[1].jpg'), false);
  const odd = tmp.file('photo[1].jpg');
  await gradient(300, 200).jpeg().toFile(odd);
  const m = await tileImage(odd, tmp.file('out-odd'), { jpegEncoder: 'direct' });
  assert.equal(m.jpegEncoder, 'sharp');
  assert.equal(m.width, 300);
});

test('a truncated JPEG fails with HUGEMAP_ERR_CORRUPT_IMAGE and leaves no descriptor', async () => {
  const bad = await truncatedCopy(plain, tmp.file('truncated.jpg'), 0.5);
  const out = tmp.file('out-truncated');
  await assert.rejects(tileImage(bad, out, { jpegEncoder: 'direct' }), (err: unknown) => err instanceof HugemapError && err.code === 'HUGEMAP_ERR_CORRUPT_IMAGE');
  await assert.rejects(stat(join(out, 'image.dzi')));
});

/** The pipes this process holds open, by inode (`pipe:[123]` links in /proc/self/fd). */
async function openPipes(): Promise<Set<string>> {
  const pipes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith('pipe:')) pipes.add(target);
  }
  return pipes;
}

test('a JPEG reaches libvips through a pipe: the file is never mapped while dzsave cuts, and no pipe is left open', async () => {
  // Noise makes a big file and a cut long enough to look at the process's mappings many times.
  const noisy = tmp.file('noisy.jpg');
  await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
    .jpeg({ quality: 95 })
    .toFile(noisy);
  const pipesBefore = await openPipes();
  let looks = 0;
  let mapped = 0;
  const watch = setInterval(() => {
    looks++;
    if (readFileSync('/proc/self/maps', 'utf8').includes(noisy)) mapped++;
  }, 2);
  try {
    await dzsaveDirect({ path: noisy, format: 'jpeg' }, tmp.file('noisy-out/image'), 85);
  } finally {
    clearInterval(watch);
  }
  // Not a timing figure: only that the check below looked at all while dzsave ran (it runs off the event loop).
  assert.ok(looks > 0, 'looked at the mappings during the cut');
  assert.equal(mapped, 0, 'the input file was memory-mapped');
  // 4000 x 3000 in 256 px tiles: 16 x 12 at full size, every level down to 1 x 1.
  assert.equal((await readdir(tmp.file('noisy-out/image_files/12'))).length, 16 * 12);
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), []);
});

test('an input that cannot be read fails with its own error, and no pipe is left open', async () => {
  const pipesBefore = await openPipes();
  await assert.rejects(dzsaveDirect({ path: tmp.file('missing.jpg'), format: 'jpeg' }, tmp.file('out-missing/image'), 85), { code: 'ENOENT' });
  const bad = await truncatedCopy(plain, tmp.file('truncated-direct.jpg'), 0.5);
  await assert.rejects(dzsaveDirect({ path: bad, format: 'jpeg' }, tmp.file('out-truncated-direct/image'), 85), /VipsJpeg|premature|truncated/i);
  assert.deepEqual([...(await openPipes())].filter((p) => !pipesBefore.has(p)), []);
});

test('an unknown encoder is refused', async () => {
  await assert.rejects(tileImage(plain, tmp.file('out-unknown'), { jpegEncoder: 'fast' as never }), /jpegEncoder must be one of direct, sharp/);
});

test('the tiler id tells the encoders apart and keeps the sharp id unchanged', () => {
  assert.notEqual(tilerId('jpeg', 85, 'direct'), tilerId('jpeg', 85, 'sharp'));
  assert.equal(tilerId('jpeg', 85, 'sharp'), tilerId('jpeg', 85));
  // Not the id of direct mode without the Huffman pass: those tiles had other bytes.
  assert.match(tilerId('jpeg', 85, 'direct'), / direct\+huffman$/);
});
