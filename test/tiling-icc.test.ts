/**
 * An embedded profile that is sRGB itself is recognised by its content and the
 * identity transform skipped (icc-srgb.ts); every other profile is still
 * converted to sRGB.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { isSrgbProfile } from '../shared/tiling/icc-srgb.js';
import { probeImage, tileImage } from '../shared/tiling/index.js';
import { gradient, tempDir } from './helpers/fixtures.js';

const tmp = await tempDir('hugemap-icc-');
after(() => tmp.remove());

async function embedded(profile: string): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#808080' } }).withIccProfile(profile).jpeg().toBuffer();
  return (await sharp(jpeg).metadata()).icc!;
}

const s15 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(Math.round(v * 65536));
  return b;
};
const xyz = (x: number, y: number, z: number) => Buffer.concat([Buffer.from('XYZ \0\0\0\0', 'latin1'), s15(x), s15(y), s15(z)]);
const srgbCurve = (v: number) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
function curv(n: number, f: (v: number) => number): Buffer {
  const b = Buffer.alloc(12 + 2 * n);
  b.write('curv', 0, 'latin1');
  b.writeUInt32BE(n, 8);
  for (let i = 0; i < n; i++) b.writeUInt16BE(Math.round(f(n === 1 ? 0 : i / (n - 1)) * 65535), 12 + 2 * i);
  return b;
}

/** A minimal v2 RGB matrix/TRC profile, laid out as the ICC spec says: header, tag table, tag data (4-byte aligned). */
function profile(tags: Record<string, Buffer>): Buffer {
  const names = Object.keys(tags);
  let offset = 132 + names.length * 12;
  const table: Buffer[] = [];
  const data: Buffer[] = [];
  for (const name of names) {
    const body = tags[name]!;
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const entry = Buffer.alloc(12);
    entry.write(name, 0, 'latin1');
    entry.writeUInt32BE(offset, 4);
    entry.writeUInt32BE(body.length, 8);
    table.push(entry);
    data.push(padded);
    offset += padded.length;
  }
  const header = Buffer.alloc(128);
  header.writeUInt32BE(offset, 0);
  header[8] = 2;
  header.write('mntrRGB XYZ ', 12, 'latin1');
  header.write('acsp', 36, 'latin1');
  const count = Buffer.alloc(4);
  count.writeUInt32BE(names.length);
  return Buffer.concat([header, count, ...table, ...data]);
}

const SRGB_XYZ = { rXYZ: xyz(0.4361, 0.2225, 0.0139), gXYZ: xyz(0.3851, 0.7169, 0.0971), bXYZ: xyz(0.1431, 0.0606, 0.7141) };
const sampled = curv(1024, srgbCurve);

test('sRGB profiles are recognised by content: lcms v4 (parametric curves) and the classic sampled-curve v2 layout', async () => {
  assert.equal(isSrgbProfile(await embedded('srgb')), true, "sharp's own sRGB profile");
  assert.equal(isSrgbProfile(profile({ ...SRGB_XYZ, rTRC: sampled, gTRC: sampled, bTRC: sampled })), true, '1024-entry sRGB tables');
});

test('everything else is not sRGB, however it is named', async () => {
  assert.equal(isSrgbProfile(undefined), false);
  assert.equal(isSrgbProfile(await embedded('p3')), false, 'Display P3: other primaries');
  assert.equal(isSrgbProfile(await embedded('cmyk')), false, 'CMYK');
  const srgb = await embedded('srgb');
  assert.equal(isSrgbProfile(srgb.subarray(0, 100)), false, 'truncated');
  const gamma22 = curv(1, () => 2.2 / 256); // a single entry is a gamma (u8Fixed8): 2.2
  gamma22.writeUInt16BE(Math.round(2.2 * 256), 12);
  assert.equal(isSrgbProfile(profile({ ...SRGB_XYZ, rTRC: gamma22, gTRC: gamma22, bTRC: gamma22 })), false, 'pure gamma 2.2 curves');
  assert.equal(isSrgbProfile(profile({ ...SRGB_XYZ, rTRC: sampled, gTRC: curv(1024, (v) => v), bTRC: sampled })), false, 'one linear curve');
  assert.equal(isSrgbProfile(profile({ ...SRGB_XYZ, rXYZ: xyz(0.4461, 0.2225, 0.0139), rTRC: sampled, gTRC: sampled, bTRC: sampled })), false, 'red primary off by 0.01');
  assert.equal(isSrgbProfile(profile({ ...SRGB_XYZ, rTRC: sampled, gTRC: sampled })), false, 'a curve missing');
  const withLut = profile({ ...SRGB_XYZ, rTRC: sampled, gTRC: sampled, bTRC: sampled, A2B0: Buffer.from('mft2\0\0\0\0', 'latin1') });
  assert.equal(isSrgbProfile(withLut), false, 'a LUT-based profile: lcms would use its tables');
});

test('tiles of an sRGB-tagged image hold its pixels untouched; a Display P3 image is still converted', async () => {
  const plain = tmp.file('plain.png');
  const srgb = tmp.file('srgb.png');
  const p3 = tmp.file('p3.png');
  // Within the tolerance of sRGB (curves 0.0015 of full scale high), so treated as sRGB; lcms, asked to
  // convert, would move many pixels by one level (an exact sRGB profile converts to the same pixels,
  // which could not show whether the conversion was skipped).
  const nearlySrgb = curv(1024, (v) => Math.min(1, srgbCurve(v) + (v > 0.1 ? 0.0015 : 0)));
  const iccPath = tmp.file('nearly-srgb.icc');
  await writeFile(iccPath, profile({ ...SRGB_XYZ, wtpt: xyz(0.9642, 1, 0.8249), rTRC: nearlySrgb, gTRC: nearlySrgb, bTRC: nearlySrgb }));
  await gradient(600, 400).withIccProfile(iccPath).png().toFile(srgb);
  // The same stored pixel values without the profile (withIccProfile converted them on the way in).
  await sharp(srgb, { ignoreIcc: true }).png().toFile(plain);
  await gradient(600, 400).withIccProfile('p3').png().toFile(p3);
  const limits = { maxPixels: 1e9 };
  assert.deepEqual([(await probeImage(plain, limits)).srgbProfile, (await probeImage(srgb, limits)).srgbProfile, (await probeImage(p3, limits)).srgbProfile], [false, true, false]);

  const topLevel = async (input: string, name: string) => {
    const m = await tileImage(input, tmp.file(name), { format: 'png' });
    const dir = join(tmp.file(name), 'image_files', String(m.levels - 1));
    return Promise.all((await readdir(dir)).sort().map(async (f) => sharp(await readFile(join(dir, f))).raw().toBuffer()));
  };
  const p3Stored = tmp.file('p3-stored.png');
  await sharp(p3, { ignoreIcc: true }).png().toFile(p3Stored);
  const [a, b] = [await topLevel(plain, 'out-plain'), await topLevel(srgb, 'out-srgb')];
  assert.equal(b.length, a.length);
  b.forEach((tile, i) => assert.ok(tile.equals(a[i]!), `sRGB-tagged tile ${i}: the source pixels exactly`));
  const [c, d] = [await topLevel(p3, 'out-p3'), await topLevel(p3Stored, 'out-p3-stored')];
  assert.ok(c.some((tile, i) => !tile.equals(d[i]!)), 'P3 pixels are converted to sRGB, not taken as stored');
});
