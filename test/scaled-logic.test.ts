/** Pure parts of the image service: size grammar, dimensions, presets, signatures, <img> text, IIIF parameters. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downscaleFactor, formatSizeSpec, parseSizeSpec, scaledDimensions } from '../services/scaling/size-spec.js';
import { DEFAULT_PRESETS, parsePresets } from '../services/scaling/presets.js';
import { SizePolicy } from '../services/scaling/size-access.js';
import { isValidSignature, signSize } from '../shared/scaled-signature.js';
import { altText, imgTag, readableFilename, slugify } from '../services/scaling/img-tag.js';
import { parseIiifRequest } from '../services/scaling/iiif-request.js';
import { levelFor, levelForRegion, tilesCovering } from '../services/scaling/pyramid-reader.js';
import { RenderLimit } from '../services/scaling/render-limit.js';
import { contentImageId, contentImageIdOf, isImageId, newImageId } from '../services/api/image-id.js';
import { createHash } from 'node:crypto';

test('size grammar: o, WxH, WxH! and nothing else', () => {
  assert.deepEqual(parseSizeSpec('o'), { kind: 'original' });
  assert.deepEqual(parseSizeSpec('320x240'), { kind: 'fit', width: 320, height: 240 });
  assert.deepEqual(parseSizeSpec('150x150!'), { kind: 'fill', width: 150, height: 150 });
  for (const bad of ['', 'O', '0x5', '5x0', '05x5', '320', '320x', 'x240', '320X240', '320x240!!', '320*240', '123456x1', ' 1x1', '1x1 ']) {
    assert.equal(parseSizeSpec(bad), null, JSON.stringify(bad));
  }
  assert.equal(formatSizeSpec(parseSizeSpec('150x150!')!), '150x150!');
});

test('fit keeps the aspect ratio inside the box and never enlarges; fill is exact', () => {
  const fit = (w: number, h: number, s: string) => scaledDimensions(w, h, parseSizeSpec(s)!);
  assert.deepEqual(fit(4000, 3000, '320x240'), { width: 320, height: 240 });
  assert.deepEqual(fit(4000, 2000, '320x240'), { width: 320, height: 160 }, 'landscape: width bound');
  assert.deepEqual(fit(2000, 4000, '320x240'), { width: 120, height: 240 }, 'portrait: height bound');
  assert.deepEqual(fit(100, 50, '320x240'), { width: 100, height: 50 }, 'tiny: untouched');
  assert.deepEqual(fit(10000, 1, '100x100'), { width: 100, height: 1 }, 'never below one pixel');
  assert.deepEqual(fit(100, 50, '320x240!'), { width: 320, height: 240 }, 'fill enlarges');
  assert.deepEqual(fit(77, 33, 'o'), { width: 77, height: 33 });
  assert.equal(downscaleFactor(4000, 2000, parseSizeSpec('320x240')!), 12.5);
  assert.equal(downscaleFactor(4000, 2000, parseSizeSpec('100x100!')!), 20, 'cover: the uncropped axis');
});

test('presets: defaults, configured lists, and bad entries refused', () => {
  const defaults = parsePresets(DEFAULT_PRESETS);
  assert.deepEqual(defaults.get('square'), { kind: 'fill', width: 150, height: 150 });
  assert.deepEqual([...parsePresets('a=1x2, b=o').keys()], ['a', 'b']);
  for (const bad of ['thumb', 'thumb=big', 'Thumb=1x1', 'o=1x1', '=1x1']) assert.throws(() => parsePresets(bad), { code: 'HUGEMAP_ERR_CONFIG' }, bad);
});

test('size policy: presets always, other sizes signed when a key is set, maximum per side', () => {
  const scale = { cacheDir: '/tmp/x', cacheMaxBytes: 1, maxDimension: 1000, presets: 'big=2000x2000', altSuffix: '', renderQueue: 1, iiifRenders: 1, iiifRenderQueue: 1, iiifMaxArea: 1_000_000 };
  const open = new SizePolicy({ signingKey: undefined, scale });
  assert.deepEqual(open.authorize('100x100', 'id', undefined), { kind: 'fit', width: 100, height: 100 });
  assert.deepEqual(open.authorize('big', 'id', undefined), { kind: 'fit', width: 2000, height: 2000 }, 'presets may exceed the maximum');
  assert.throws(() => open.parse('1001x10'), { code: 'HUGEMAP_ERR_BAD_REQUEST' });
  const signed = new SizePolicy({ signingKey: 'k'.repeat(16), scale });
  assert.throws(() => signed.authorize('100x100', 'id', undefined), { code: 'HUGEMAP_ERR_BAD_SIGNATURE' });
  assert.doesNotThrow(() => signed.authorize('100x100', 'id', signSize('k'.repeat(16), '100x100', 'id')));
  assert.throws(() => signed.authorize('100x100', 'other', signSize('k'.repeat(16), '100x100', 'id')), { code: 'HUGEMAP_ERR_BAD_SIGNATURE' });
  assert.equal(signed.needsSignature('big'), false);
  assert.equal(signed.needsSignature('o'), false);
  assert.equal(signed.needsSignature('5x5'), true);
});

test('signatures: 22 characters, bound to key, size and id', () => {
  const s = signSize('key-0123456789abcdef', '320x240', 'abc');
  assert.match(s, /^[A-Za-z0-9_-]{22}$/);
  assert.ok(isValidSignature('key-0123456789abcdef', '320x240', 'abc', s));
  assert.ok(!isValidSignature('key-0123456789abcdeF', '320x240', 'abc', s));
  assert.ok(!isValidSignature('key-0123456789abcdef', '320x241', 'abc', s));
  assert.ok(!isValidSignature('key-0123456789abcdef', '320x240', 'abd', s));
  assert.ok(!isValidSignature('key-0123456789abcdef', '320x240', 'abc', ['x']));
});

test('<img> text: escaping, readable names, slugs', () => {
  assert.equal(imgTag({ src: '/i/a?x=1&y=2', width: 3, height: 4, alt: `"><script>'` }), `<img src="/i/a?x=1&amp;y=2" width="3" height="4" alt="&quot;&gt;&lt;script&gt;&#39;">`);
  assert.equal(readableFilename('IMG_2041-beach__day.JPG'), 'IMG 2041 beach day');
  assert.equal(altText(null, 'my_cat.png', ' (photo)'), 'my cat (photo)');
  assert.equal(altText('Title', 'my_cat.png', ''), 'Title');
  assert.equal(altText(null, null, ''), '');
  assert.equal(slugify('Crème Brûlée at Noon!.jpg'), 'creme-brulee-at-noon');
  assert.equal(slugify('日本'), 'image');
  assert.equal(slugify(null), 'image');
});

test('content ids: first 16 bytes of SHA-256 in base64url, 22 characters; random ids have the same shape', () => {
  const bytes = Buffer.from('some image bytes');
  const digest = createHash('sha256').update(bytes).digest();
  assert.equal(contentImageIdOf(bytes), digest.subarray(0, 16).toString('base64url'));
  assert.equal(contentImageId(digest).length, 22);
  assert.notEqual(contentImageIdOf(Buffer.from('other bytes')), contentImageIdOf(bytes));
  assert.throws(() => contentImageId(Buffer.alloc(16)), RangeError);
  const random = new Set(Array.from({ length: 500 }, newImageId));
  assert.equal(random.size, 500);
  for (const id of random) assert.ok(isImageId(id));
});

test('IIIF parameters resolve to pixels as the spec says', () => {
  const limits = { maxWidth: 1000, maxHeight: 1000, maxArea: 1_000_000 };
  const p = (region: string, size: string, rotation = '0', file = 'default.jpg') => parseIiifRequest(3000, 2000, limits, { region, size, rotation, file });
  assert.deepEqual(p('full', 'max').size, { width: 1000, height: 667 }, 'max is confined to the limits');
  assert.deepEqual(p('square', '200,').region, { x: 500, y: 0, w: 2000, h: 2000 });
  assert.deepEqual(p('100,200,300,400', ',200').size, { width: 150, height: 200 });
  assert.deepEqual(p('2900,1900,500,500', 'max').region, { x: 2900, y: 1900, w: 100, h: 100 }, 'cropped at the edges');
  assert.deepEqual(p('full', '!300,300').size, { width: 300, height: 200 });
  assert.deepEqual(p('full', '300,300').size, { width: 300, height: 300 }, 'w,h may distort');
  assert.deepEqual(p('pct:50,50,50,50', 'pct:10').size, { width: 150, height: 100 });
  const r = p('0,0,10,10', 'max', '!90', 'gray.png');
  assert.deepEqual([r.rotation, r.mirror, r.quality, r.format], [90, true, 'gray', 'png']);
  // Level 2 and beyond: upscaling with ^, any angle.
  assert.deepEqual(p('0,0,100,50', '^300,').size, { width: 300, height: 150 });
  assert.deepEqual(p('0,0,100,50', '^pct:200').size, { width: 200, height: 100 });
  assert.deepEqual(p('0,0,100,100', '^!500,300').size, { width: 300, height: 300 }, '^!w,h fills the box');
  assert.deepEqual(p('0,0,100,100', '!100,300').size, { width: 100, height: 100 }, '!w,h without ^ up to the region itself');
  assert.deepEqual(p('0,0,100,50', '^max').size, { width: 100, height: 50 }, '^max is the region at full resolution');
  assert.deepEqual(p('full', '^max').size, { width: 1000, height: 667 }, '^max of a large region is confined');
  assert.equal(p('full', 'max', '22.50').rotation, 22.5);
  assert.equal(p('full', 'max', '360').rotation, 0);
  const area = parseIiifRequest(3000, 3000, { maxWidth: 1000, maxHeight: 1000, maxArea: 250_000 }, { region: 'full', size: 'max', rotation: '0', file: 'default.jpg' });
  assert.deepEqual(area.size, { width: 500, height: 500 }, 'max is confined to maxArea too');
  assert.throws(
    () => parseIiifRequest(3000, 3000, { maxWidth: 1000, maxHeight: 1000, maxArea: 250_000 }, { region: 'full', size: '600,600', rotation: '0', file: 'default.jpg' }),
    { code: 'HUGEMAP_ERR_BAD_REQUEST' },
    'an explicit size over maxArea is refused',
  );
  for (const [region, size, rotation, file] of [
    ['0,0,0,10', 'max', '0', 'default.jpg'],
    ['3000,0,10,10', 'max', '0', 'default.jpg'],
    ['0,0,10,10', '20,', '0', 'default.jpg'],
    ['0,0,10,10', 'pct:200', '0', 'default.jpg'],
    ['full', '2000,', '0', 'default.jpg'],
    ['0,0,100,100', '^2000,', '0', 'default.jpg'],
    ['full', 'max', '361', 'default.jpg'],
    ['full', 'max', '-5', 'default.jpg'],
    ['full', 'max', 'abc', 'default.jpg'],
    ['full', 'max', '0', 'default.xyz'],
    ['full', 'max', '0', 'fancy.jpg'],
    ['a,b,c,d', 'max', '0', 'default.jpg'],
    ['full', '^', '0', 'default.jpg'],
    ['0,0,100,100', '!500,300', '0', 'default.jpg'],
  ] as const) {
    assert.throws(() => p(region, size, rotation, file), { code: 'HUGEMAP_ERR_BAD_REQUEST' }, `${region}/${size}/${rotation}/${file}`);
  }
  for (const format of ['gif', 'tif', 'jp2', 'pdf']) {
    assert.throws(() => p('full', 'max', '0', `default.${format}`), { code: 'HUGEMAP_ERR_NOT_IMPLEMENTED', httpStatus: 501 }, format);
  }
});

test('IIIF canonical forms (spec 4.7): full, pixels, max, ^w,h, trimmed degrees, default quality', () => {
  const limits = { maxWidth: 4096, maxHeight: 4096, maxArea: 16_777_216 };
  const c = (region: string, size: string, rotation: string, file: string) => parseIiifRequest(1000, 800, limits, { region, size, rotation, file }).canonical;
  assert.equal(c('full', 'max', '0', 'default.jpg'), 'full/max/0/default.jpg');
  assert.equal(c('0,0,1000,800', 'pct:100', '0', 'color.jpg'), 'full/1000,800/0/default.jpg');
  assert.equal(c('pct:10,10,50,50', '250,', '!90.50', 'gray.png'), '100,80,500,400/250,200/!90.5/gray.png');
  assert.equal(c('square', '!100,100', '360', 'bitonal.webp'), '100,0,800,800/100,100/0/bitonal.webp');
  assert.equal(c('0,0,10,10', '^20,', '0', 'default.jpg'), '0,0,10,10/^20,20/0/default.jpg');
});

test('pyramid level choice: the smallest level with enough pixels', () => {
  const p = { id: 'x', width: 4000, height: 3000, tileSize: 256, format: 'jpeg' as const };
  assert.equal(levelFor(p, 1).factor, 1);
  assert.equal(levelFor(p, 1.9).factor, 1);
  assert.equal(levelFor(p, 2).factor, 2);
  assert.equal(levelFor(p, 12.5).factor, 8);
  assert.equal(levelFor(p, 1e9).level.level, 0, 'never below level 0');
  assert.equal(levelFor(p, 12.5).level.width, 500);
});

test('IIIF renders read the smallest level that is large enough: a few tiles, even of 10 GP', () => {
  const giga = { id: 'x', width: 100_000, height: 100_000, tileSize: 256, format: 'jpeg' as const };
  const cost = (region: { x: number; y: number; w: number; h: number }, out: { width: number; height: number }) => {
    const { factor, rect } = levelForRegion(giga, region, out);
    return { factor, tiles: tilesCovering(giga, rect), rect };
  };
  // A small region at full resolution: the deepest level, 4 tiles at most.
  assert.deepEqual(cost({ x: 50_000, y: 50_000, w: 300, h: 300 }, { width: 300, height: 300 }).factor, 1);
  assert.ok(cost({ x: 50_000, y: 50_000, w: 300, h: 300 }, { width: 300, height: 300 }).tiles <= 4);
  // The whole 10 GP image as a 500 px thumbnail: level with 2^k <= 200, i.e. 128, 782 px a side: 16 tiles.
  const whole = cost({ x: 0, y: 0, w: 100_000, h: 100_000 }, { width: 500, height: 500 });
  assert.equal(whole.factor, 128);
  assert.equal(whole.tiles, 16);
  // A 10,000 px region shown at 1000 px: a level 8x down, ~1250 px, 36 tiles at most; never the full-resolution 1600.
  const mid = cost({ x: 1234, y: 5678, w: 10_000, h: 10_000 }, { width: 1000, height: 1000 });
  assert.equal(mid.factor, 8);
  assert.ok(mid.rect.width >= 1000 && mid.rect.width < 2000);
  assert.ok(mid.tiles <= 36, `${mid.tiles} tiles`);
  // Upscaling reads the full-resolution level (nothing larger exists).
  assert.equal(cost({ x: 0, y: 0, w: 100, h: 100 }, { width: 400, height: 400 }).factor, 1);
});

test('render limit: a bounded queue refuses at once with HUGEMAP_ERR_BUSY and Retry-After seconds', async () => {
  const limit = new RenderLimit(1, 1, 'IIIF renders', 3);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const first = limit.run(() => held.then(() => 'first'));
  const second = limit.run(async () => 'second');
  assert.equal(limit.active, 1);
  assert.equal(limit.queued, 1);
  await assert.rejects(limit.run(async () => 'third'), (err: any) => err.code === 'HUGEMAP_ERR_BUSY' && err.httpStatus === 503 && err.retryAfterSeconds === 3);
  release();
  assert.deepEqual(await Promise.all([first, second]), ['first', 'second']);
  assert.equal(limit.active, 0);
  assert.equal(await limit.run(async () => 'after'), 'after', 'room again once the queue drained');
});
