/**
 * /i/{size}/{id}.{ext} against a real API, worker, MongoDB and S3: exact
 * dimensions (from the original before tiling, from the pyramid after),
 * agreement with /scaled-dimensions, the disk cache, originals, errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { waitFor } from './helpers/test-config.js';
import { meanAbsDiff, patterned, startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';

const servers = await useTestServers();

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { res, body };
}

async function dims(body: Buffer) {
  const m = await sharp(body).metadata();
  return { width: m.width, height: m.height, format: m.format };
}

// Expected outputs: [source w, h] -> size -> [w, h]
const CASES: Array<{ name: string; w: number; h: number; expect: Record<string, [number, number]> }> = [
  { name: 'landscape', w: 1200, h: 800, expect: { '300x300': [300, 200], '300x300!': [300, 300], '100x50': [75, 50], '2000x2000': [1200, 800], thumb: [150, 100], square: [150, 150] } },
  { name: 'portrait', w: 600, h: 1000, expect: { '300x300': [180, 300], '300x300!': [300, 300], '400x100!': [400, 100], thumb: [90, 150] } },
  { name: 'tiny', w: 40, h: 30, expect: { '300x300': [40, 30], '300x300!': [300, 300], '20x20': [20, 15], '64x16!': [64, 16] } },
];

describe('scaled images', () => {
  let svc: ImageService;
  const ids = new Map<string, string>();
  const sources = new Map<string, Buffer>();

  before(async () => {
    svc = await startImageService(servers, 'scaled');
    for (const c of CASES) {
      const bytes = await patterned(c.w, c.h);
      sources.set(c.name, bytes);
      const res = await upload(svc.url, bytes, `${c.name}-photo.jpg`, { title: `The ${c.name} one` });
      assert.equal(res.status, 202, JSON.stringify(res.json));
      ids.set(c.name, res.json.id);
    }
  });
  after(() => svc?.close());

  for (const c of CASES) {
    test(`${c.name} ${c.w}x${c.h}: exact sizes from the pyramid, equal to /scaled-dimensions`, async () => {
      const id = ids.get(c.name)!;
      await waitUntilDone(svc.url, id);
      for (const [size, [w, h]] of Object.entries(c.expect)) {
        for (const ext of ['jpg', 'webp', 'png']) {
          const { res, body } = await get(`${svc.url}/i/${size}/${id}.${ext}`);
          assert.equal(res.status, 200, `${size}.${ext}: ${body.toString().slice(0, 200)}`);
          assert.deepEqual(await dims(body), { width: w, height: h, format: ext === 'jpg' ? 'jpeg' : ext }, `${c.name} ${size}.${ext}`);
          assert.equal(res.headers.get('content-type'), `image/${ext === 'jpg' ? 'jpeg' : ext}`);
        }
        const d = await (await fetch(`${svc.url}/api/v1/images/${id}/scaled-dimensions?size=${encodeURIComponent(size)}`)).json();
        assert.deepEqual(d, { width: w, height: h }, `scaled-dimensions ${size}`);
      }
    });
  }

  test('the pixels are the picture: a fit scale matches the source scaled by sharp', async () => {
    const id = ids.get('landscape')!;
    await waitUntilDone(svc.url, id);
    const { body } = await get(`${svc.url}/i/300x300/${id}.png`);
    const expected = await sharp(sources.get('landscape')!).resize(300, 200, { fit: 'fill' }).png().toBuffer();
    const diff = await meanAbsDiff(body, expected);
    assert.ok(diff < 8, `mean difference ${diff}`);
    const flipped = await sharp(expected).flop().toBuffer();
    assert.ok((await meanAbsDiff(body, flipped)) > 20, 'a mirrored picture must not pass');
  });

  test('fill crops the centre', async () => {
    const id = ids.get('landscape')!;
    await waitUntilDone(svc.url, id);
    const { body } = await get(`${svc.url}/i/200x200!/${id}.png`);
    const expected = await sharp(sources.get('landscape')!).resize(200, 200, { fit: 'cover', position: 'centre' }).png().toBuffer();
    const diff = await meanAbsDiff(body, expected);
    assert.ok(diff < 5, `mean difference ${diff}`);
  });

  test('before tiling, sizes are rendered from the original with the same dimensions', async () => {
    // No worker here: the image stays queued, so only the original can answer.
    const early = await startImageService(servers, 'scaled-early', {}, { worker: false });
    try {
      const bytes = await patterned(900, 500);
      const id = (await upload(early.url, bytes, 'early.jpg')).json.id;
      assert.equal((await early.store.get(id))?.status, 'queued');
      for (const [size, w, h] of [['300x300', 300, 167], ['100x100!', 100, 100], ['2000x2000', 900, 500]] as const) {
        const { res: r, body } = await get(`${early.url}/i/${size}/${id}.jpg`);
        assert.equal(r.status, 200);
        assert.deepEqual(await dims(body), { width: w, height: h, format: 'jpeg' }, size);
        const d = await (await fetch(`${early.url}/api/v1/images/${id}/scaled-dimensions?size=${encodeURIComponent(size)}`)).json();
        assert.deepEqual(d, { width: w, height: h });
      }
      const { body } = await get(`${early.url}/i/300x300/${id}.png`);
      const diff = await meanAbsDiff(body, await sharp(bytes).resize(300, 167, { fit: 'fill' }).png().toBuffer());
      assert.ok(diff < 4, `mean difference ${diff}`);
    } finally {
      await early.close();
    }
  });

  test('a cache hit does not render again: served even with the original and tiles gone', async () => {
    const bytes = await patterned(500, 400);
    const id = (await upload(svc.url, bytes, 'cached.jpg')).json.id;
    await waitUntilDone(svc.url, id);
    const first = await get(`${svc.url}/i/123x77/${id}.webp`);
    assert.equal(first.res.status, 200);
    assert.equal(first.res.headers.get('x-cache'), 'MISS');
    assert.match(first.res.headers.get('cache-control') ?? '', /max-age=31536000/);
    const etag = first.res.headers.get('etag');
    assert.ok(etag);
    // Take away everything a render would need.
    await svc.s3.deletePrefix(`images/${id}/`);
    await svc.s3.deleteKey(`originals/${id}`);
    const second = await get(`${svc.url}/i/123x77/${id}.webp`);
    assert.equal(second.res.status, 200);
    assert.equal(second.res.headers.get('x-cache'), 'HIT');
    assert.equal(second.res.headers.get('etag'), etag);
    assert.ok(second.body.equals(first.body));
    const revalidated = await fetch(`${svc.url}/i/123x77/${id}/any-slug-at-all.webp`, { headers: { 'If-None-Match': etag! } });
    assert.equal(revalidated.status, 304);
    // A size never asked for needs the pyramid, which is gone.
    const uncached = await fetch(`${svc.url}/i/124x77/${id}.webp`);
    assert.deepEqual([uncached.status, ((await uncached.json()) as { error: { code: string } }).error.code], [404, 'HUGEMAP_ERR_NOT_FOUND']);
    const files = await readdir(svc.cacheDir, { recursive: true });
    assert.ok(files.some((f) => String(f).includes(id)), 'the rendered file is in the cache folder');
  });

  test('a cached file that vanished is rendered again; deleting the image drops its cached files', async () => {
    const { rm: remove } = await import('node:fs/promises');
    const pathMod = await import('node:path');
    const id = (await upload(svc.url, await patterned(300, 300), 'vanish.jpg')).json.id;
    await waitUntilDone(svc.url, id);
    const cachedFiles = async () => (await readdir(pathMod.join(svc.cacheDir, 'files', id)).catch(() => [] as string[])).sort();
    assert.equal((await fetch(`${svc.url}/i/50x50/${id}.jpg`)).headers.get('x-cache'), 'MISS');
    assert.equal((await fetch(`${svc.url}/i/60x60/${id}.jpg`)).headers.get('x-cache'), 'MISS');
    assert.deepEqual(await cachedFiles(), ['50x50.jpg', '60x60.jpg']);
    await remove(pathMod.join(svc.cacheDir, 'files', id, '50x50.jpg'));
    const again = await fetch(`${svc.url}/i/50x50/${id}.jpg`);
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-cache'), 'MISS');
    assert.equal((await fetch(`${svc.url}/api/v1/images/${id}`, { method: 'DELETE' })).status, 204);
    // The unlinks run just after the DELETE is answered.
    await waitFor('the cached files to be unlinked', async () => ((await cachedFiles()).length === 0 ? true : undefined), 5_000, 10).catch(() => undefined);
    assert.deepEqual(await cachedFiles(), []);
    assert.equal((await fetch(`${svc.url}/i/60x60/${id}.jpg`)).status, 404);
  });

  test('a PNG with alpha (PNG tiles): png output keeps transparency, jpg is flattened on white', async () => {
    // Left half opaque red, right half fully transparent.
    const raw = Buffer.alloc(600 * 400 * 4);
    for (let y = 0; y < 400; y++) for (let x = 0; x < 300; x++) raw.set([220, 20, 20, 255], (y * 600 + x) * 4);
    const png = await sharp(raw, { raw: { width: 600, height: 400, channels: 4 } }).png().toBuffer();
    const id = (await upload(svc.url, png, 'alpha.png')).json.id;
    const done = await waitUntilDone(svc.url, id);
    assert.equal(done.format, 'png');
    const asPng = await sharp((await get(`${svc.url}/i/300x300/${id}.png`)).body).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([asPng.info.width, asPng.info.height, asPng.info.channels], [300, 200, 4]);
    const px = (img: typeof asPng, x: number, y: number) => [...img.data.subarray((y * img.info.width + x) * img.info.channels, (y * img.info.width + x + 1) * img.info.channels)];
    assert.deepEqual(px(asPng, 50, 100), [220, 20, 20, 255]);
    assert.equal(px(asPng, 250, 100)[3], 0, 'transparent on the right');
    const asJpg = await sharp((await get(`${svc.url}/i/300x300/${id}.jpg`)).body).raw().toBuffer({ resolveWithObject: true });
    assert.equal(asJpg.info.channels, 3);
    assert.ok(px(asJpg, 250, 100).every((v) => v > 245), `white where transparent: ${px(asJpg, 250, 100)}`);
  });

  test('o serves the original bytes', async () => {
    const id = ids.get('portrait')!;
    const { res, body } = await get(`${svc.url}/i/o/${id}.jpg`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(sources.get('portrait')!).digest('hex'));
    assert.equal((await fetch(`${svc.url}/i/o/${id}.png`)).status, 400, 'the original is a JPEG');
  });

  test('400 for malformed sizes and extensions, 404 for unknown ids, maximum enforced', async () => {
    const id = ids.get('tiny')!;
    for (const bad of ['0x10', '10x', 'x10', '10x10!!', 'huge', '-5x5', '10X10', '1e3x10']) {
      const res = await fetch(`${svc.url}/i/${bad}/${id}.jpg`);
      assert.equal(res.status, 400, bad);
      assert.equal((await res.json()).error.code, 'HUGEMAP_ERR_BAD_REQUEST');
    }
    assert.equal((await fetch(`${svc.url}/i/4097x10/${id}.jpg`)).status, 400, 'above SCALE_MAX_DIMENSION');
    assert.equal((await fetch(`${svc.url}/i/100x100/${id}.gif`)).status, 400);
    const unknown = await fetch(`${svc.url}/i/100x100/AAAAAAAAAAAAAAAAAAAAAA.jpg`);
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'HUGEMAP_ERR_NOT_FOUND');
    assert.equal((await fetch(`${svc.url}/i/100x100/nonsense.jpg`)).status, 404);
    assert.equal((await fetch(`${svc.url}/api/v1/images/${id}/scaled-dimensions?size=abc`)).status, 400);
    assert.equal((await fetch(`${svc.url}/api/v1/images/AAAAAAAAAAAAAAAAAAAAAA/scaled-dimensions?size=10x10`)).status, 404);
  });

  test('damaged originals: 422 with their code, naming the original image, never this server\'s scratch copy', async () => {
    const whole = await patterned(640, 480);
    // Cut in half: the header reads, the pixels do not. A JPEG start and then noise: not even the header reads.
    for (const damaged of [whole.subarray(0, Math.floor(whole.length / 2)), Buffer.concat([whole.subarray(0, 4), Buffer.alloc(4000, 0x55)])]) {
      const res = await upload(svc.url, damaged, 'damaged.jpg');
      assert.equal(res.status, 202, JSON.stringify(res.json));
      const id = res.json.id as string;
      // Tiling fails for good first (the original stays stored), so the scaler is the only reader below.
      await waitFor('the damaged image to fail', async () => ((await (await fetch(`${svc.url}/api/v1/images/${id}`)).json()).status === 'failed' ? true : undefined), 60_000, 100);
      const scaled = await fetch(`${svc.url}/i/240x160/${id}.jpg`);
      assert.equal(scaled.status, 422);
      const { error } = (await scaled.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'HUGEMAP_ERR_CORRUPT_IMAGE');
      assert.match(error.message, /^the original image is damaged or truncated: /);
      assert.doesNotMatch(error.message, /orig-[0-9a-f]{16}|\/original\b/, error.message);
    }
  });

  test('the <img> tag: scaled src with a slug, exact size, escaped alt from the title or file name', async () => {
    const id = ids.get('landscape')!;
    await svc.store.update(id, { title: 'Cats & "dogs" <3' });
    const html = await (await fetch(`${svc.url}/api/v1/images/${id}/tag?size=300x300`)).text();
    assert.equal(html, `<img src="/i/300x300/${id}/cats-dogs-3.jpg" width="300" height="200" alt="Cats &amp; &quot;dogs&quot; &lt;3">`);
    await svc.store.update(id, { title: null });
    const fromName = await (await fetch(`${svc.url}/api/v1/images/${id}/tag?size=thumb&format=webp`)).text();
    assert.equal(fromName, `<img src="/i/thumb/${id}/landscape-photo.webp" width="150" height="100" alt="landscape photo">`);
    // The src it gives really serves an image of that size.
    const src = /src="([^"]+)"/.exec(fromName)![1]!;
    assert.deepEqual(await dims((await get(`${svc.url}${src}`)).body), { width: 150, height: 100, format: 'webp' });
  });
});

describe('scaled images with SIGNING_KEY', () => {
  let svc: ImageService;
  let id: string;
  const key = 'test-signing-key-0123456789';
  before(async () => {
    svc = await startImageService(servers, 'scaled-signed', { SIGNING_KEY: key, SCALE_PRESETS: 'thumb=100x100,tile=64x64!', ALT_SUFFIX: ' (picture)' });
    id = (await upload(svc.url, await patterned(320, 240), 'signed.jpg')).json.id;
    await waitUntilDone(svc.url, id);
  });
  after(() => svc?.close());

  test('presets and o need no signature; other sizes need a valid one', async () => {
    const { signSize } = await import('../shared/scaled-signature.js');
    assert.equal((await fetch(`${svc.url}/i/thumb/${id}.jpg`)).status, 200);
    assert.equal((await fetch(`${svc.url}/i/tile/${id}.jpg`)).status, 200);
    assert.equal((await fetch(`${svc.url}/i/o/${id}.jpg`)).status, 200);
    const unsigned = await fetch(`${svc.url}/i/200x200/${id}.jpg`);
    assert.equal(unsigned.status, 403);
    assert.equal((await unsigned.json()).error.code, 'HUGEMAP_ERR_BAD_SIGNATURE');
    const sig = signSize(key, '200x200', id);
    assert.equal((await fetch(`${svc.url}/i/200x200/${id}.jpg?s=${sig}`)).status, 200);
    assert.equal((await fetch(`${svc.url}/i/200x200/${id}/slug.webp?s=${sig}`)).status, 200, 'one signature for every format and slug');
    assert.equal((await fetch(`${svc.url}/i/201x200/${id}.jpg?s=${sig}`)).status, 403, 'signature of another size');
    assert.equal((await fetch(`${svc.url}/i/200x200/${id}.jpg?s=${signSize('another-key-0123456789', '200x200', id)}`)).status, 403);
    assert.equal((await fetch(`${svc.url}/i/200x200/${id}.jpg?s=${sig.slice(0, -1)}`)).status, 403);
    // Default presets are replaced by SCALE_PRESETS: "medium" is now a malformed size.
    assert.equal((await fetch(`${svc.url}/i/medium/${id}.jpg`)).status, 400);
  });

  test('the <img> tag signs sizes that need it and adds ALT_SUFFIX', async () => {
    const html = await (await fetch(`${svc.url}/api/v1/images/${id}/tag?size=90x90`)).text();
    const src = /src="([^"]+)"/.exec(html)![1]!;
    assert.match(html, /alt="signed \(picture\)"/);
    assert.match(src, /\?s=[A-Za-z0-9_-]{22}$/);
    const res = await fetch(`${svc.url}${src}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await dims(Buffer.from(await res.arrayBuffer())), { width: 90, height: 68, format: 'jpeg' });
  });
});

describe('scaled-image cache under a small byte cap', () => {
  let svc: ImageService;
  let id: string;
  const CAP = 30_000;
  before(async () => {
    svc = await startImageService(servers, 'scaled-lru', { SCALE_CACHE_MAX_BYTES: String(CAP) });
    id = (await upload(svc.url, await patterned(800, 600), 'lru.jpg')).json.id;
    await waitUntilDone(svc.url, id);
  });
  after(() => svc?.close());

  test('many sizes never hold more than the cap on disk; evicted sizes render again, kept ones hit', async () => {
    const { readdir: list, stat: info } = await import('node:fs/promises');
    const pathMod = await import('node:path');
    const onDisk = async () => {
      let total = 0;
      for (const e of await list(pathMod.join(svc.cacheDir, 'files'), { recursive: true, withFileTypes: true })) {
        if (e.isFile()) total += (await info(pathMod.join(e.parentPath, e.name))).size;
      }
      return total;
    };
    let largest = 0;
    let sum = 0;
    for (let s = 100; s <= 400; s += 20) {
      const res = await fetch(`${svc.url}/i/${s}x${s}/${id}.jpg`);
      assert.equal(res.status, 200);
      largest = Math.max(largest, Number(res.headers.get('content-length')));
      sum += Number(res.headers.get('content-length'));
      await res.arrayBuffer();
      // Evicted files are unlinked just after the answer.
      await waitFor(`the files on disk within the cap after ${s}x${s}`, async () => ((await onDisk()) <= CAP ? true : undefined), 5_000, 10).catch(() => undefined);
      const total = await onDisk();
      assert.ok(total <= CAP, `${total} bytes on disk after ${s}x${s}`);
    }
    assert.ok(sum > CAP * 2, `the test images (${sum} bytes in all) force evictions`);
    assert.ok(largest * 2 < CAP, `the largest (${largest} bytes) fits the cache twice`);
    const first = await fetch(`${svc.url}/i/100x100/${id}.jpg`);
    assert.equal(first.headers.get('x-cache'), 'MISS', 'the oldest size was evicted');
    const last = await fetch(`${svc.url}/i/400x400/${id}.jpg`);
    assert.equal(last.headers.get('x-cache'), 'HIT', 'the newest size is still cached');
  });
});
