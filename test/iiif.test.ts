/**
 * IIIF Image API 3.0 against a real API, worker and S3: info.json checked
 * against the spec's required fields, tile-aligned requests answered with the
 * stored tile's bytes, other requests compared with the source pixels.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { meanAbsDiff, patterned, startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';
import { readTile } from '../services/scaling/pyramid-reader.js';

const servers = await useTestServers();
const W = 1000;
const H = 700;

/** The required properties of an image information document (IIIF Image API 3.0, section 5). */
function assertValidInfo(info: any, expectedId: string): void {
  const ctx = Array.isArray(info['@context']) ? info['@context'].at(-1) : info['@context'];
  assert.equal(ctx, 'http://iiif.io/api/image/3/context.json', '@context');
  assert.equal(info.id, expectedId, 'id');
  assert.equal(info.type, 'ImageService3', 'type');
  assert.equal(info.protocol, 'http://iiif.io/api/image', 'protocol');
  assert.ok(['level0', 'level1', 'level2'].includes(info.profile), 'profile');
  for (const k of ['width', 'height']) assert.ok(Number.isInteger(info[k]) && info[k] > 0, k);
  if (info.maxWidth !== undefined) assert.ok(Number.isInteger(info.maxWidth) && info.maxWidth > 0);
  for (const tile of info.tiles ?? []) {
    assert.ok(Number.isInteger(tile.width) && tile.width > 0, 'tiles[].width');
    assert.ok(Array.isArray(tile.scaleFactors) && tile.scaleFactors.length > 0 && tile.scaleFactors.every((f: unknown) => Number.isInteger(f) && (f as number) > 0), 'tiles[].scaleFactors');
  }
  for (const size of info.sizes ?? []) assert.ok(Number.isInteger(size.width) && Number.isInteger(size.height), 'sizes[]');
  for (const k of ['extraFormats', 'extraQualities', 'extraFeatures']) if (info[k] !== undefined) assert.ok(Array.isArray(info[k]), k);
}

describe('IIIF Image API 3.0', () => {
  let svc: ImageService;
  let id: string;
  let source: Buffer;
  const image = async (path: string) => {
    const res = await fetch(`${svc.url}/iiif/3/${id}/${path}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200, `${path}: ${body.toString().slice(0, 200)}`);
    return { res, body, meta: await sharp(body).metadata() };
  };
  const fromSource = (left: number, top: number, width: number, height: number, outW: number, outH: number) =>
    sharp(source).extract({ left, top, width, height }).resize(outW, outH, { fit: 'fill' }).png().toBuffer();

  before(async () => {
    svc = await startImageService(servers, 'iiif', { RATE_LIMIT_RENDERS_PER_MINUTE: '10000' });
    source = await patterned(W, H);
    id = (await upload(svc.url, source, 'map.jpg')).json.id;
    await waitUntilDone(svc.url, id);
  });
  after(() => svc?.close());

  test('info.json has every required field, the JSON-LD type when asked, CORS, and the tile pyramid', async () => {
    const res = await fetch(`${svc.url}/iiif/3/${id}/info.json`, { headers: { accept: 'application/ld+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const info = await res.json();
    assertValidInfo(info, `${svc.url}/iiif/3/${id}`);
    assert.equal(info.width, W);
    assert.equal(info.height, H);
    assert.deepEqual(info.tiles, [{ width: 256, height: 256, scaleFactors: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] }]);
    assert.equal(info.profile, 'level2');
    assert.deepEqual([info.maxWidth, info.maxHeight, info.maxArea], [4096, 4096, 16_777_216]);
    for (const f of ['sizeUpscaling', 'rotationArbitrary', 'mirroring', 'canonicalLinkHeader', 'profileLinkHeader']) assert.ok(info.extraFeatures.includes(f), f);
    assert.deepEqual(info.extraQualities, ['color', 'gray', 'bitonal']);
    assert.deepEqual(info.extraFormats, ['webp']);
    assert.match(res.headers.get('link') ?? '', /<http:\/\/iiif\.io\/api\/image\/3\/level2\.json>;rel="profile"/);
    const plain = await fetch(`${svc.url}/iiif/3/${id}/info.json`);
    assert.match(plain.headers.get('content-type') ?? '', /^application\/json/);
    const redirect = await fetch(`${svc.url}/iiif/3/${id}`, { redirect: 'manual' });
    assert.equal(redirect.status, 303);
    assert.equal(redirect.headers.get('location'), `/iiif/3/${id}/info.json`);
  });

  test('tile-aligned requests are the stored tiles, byte for byte', async () => {
    const top = 10; // maxLevel of 1000x700
    for (const [path, level, col, row] of [
      ['256,0,256,256/256,/0/default.jpg', top, 1, 0],
      ['768,512,232,188/232,/0/default.jpg', top, 3, 2],
      ['0,0,512,512/256,256/0/default.jpg', top - 1, 0, 0],
      ['512,512,488,188/244,/0/default.jpg', top - 1, 1, 1],
      ['full/125,/0/default.jpg', top - 3, 0, 0],
    ] as const) {
      const { res, body } = await image(path);
      assert.equal(res.headers.get('x-iiif-source'), 'tile', path);
      const stored = await readTile(svc.s3, `images/${id}/image_files/${level}/${col}_${row}.jpeg`);
      assert.ok(body.equals(stored), `${path} is tile ${level}/${col}_${row}`);
    }
  });

  test('other regions and sizes are composed and match the source pixels', async () => {
    const cases: Array<[string, [number, number, number, number], [number, number]]> = [
      ['100,50,300,200/150,/0/default.png', [100, 50, 300, 200], [150, 100]],
      ['200,100,600,500/,250/0/default.png', [200, 100, 600, 500], [300, 250]],
      ['full/!200,200/0/default.png', [0, 0, W, H], [200, 140]],
      ['square/100,/0/default.png', [150, 0, 700, 700], [100, 100]],
      ['600,400,500,500/200,150/0/default.png', [600, 400, 400, 300], [200, 150]],
    ];
    for (const [path, [x, y, w, h], [ow, oh]] of cases) {
      const { res, body, meta } = await image(path);
      assert.equal(res.headers.get('x-iiif-source'), 'composed', path);
      assert.deepEqual([meta.width, meta.height, meta.format], [ow, oh, 'png'], path);
      const diff = await meanAbsDiff(body, await fromSource(x, y, w, h, ow, oh));
      assert.ok(diff < 8, `${path}: mean difference ${diff}`);
      // The same size from elsewhere in the picture must not pass.
      const elsewhere = await meanAbsDiff(body, await fromSource(W - w, H - h, w, h, ow, oh).catch(() => fromSource(0, 0, w, h, ow, oh)));
      if (x !== W - w || y !== H - h) assert.ok(elsewhere > diff + 10, `${path}: a shifted region differs by only ${elsewhere}`);
    }
  });

  test('full/max, rotation, mirroring, gray, webp', async () => {
    const full = await image('full/max/0/default.jpg');
    assert.deepEqual([full.meta.width, full.meta.height, full.meta.format], [W, H, 'jpeg']);
    const rotated = await image('0,0,200,100/max/90/default.png');
    assert.deepEqual([rotated.meta.width, rotated.meta.height], [100, 200]);
    const expectedRotated = await sharp(await fromSource(0, 0, 200, 100, 200, 100)).rotate(90).png().toBuffer();
    assert.ok((await meanAbsDiff(rotated.body, expectedRotated)) < 8);
    const mirrored = await image('0,0,200,100/max/!0/default.png');
    const expectedMirror = await sharp(await fromSource(0, 0, 200, 100, 200, 100)).flop().png().toBuffer();
    assert.ok((await meanAbsDiff(mirrored.body, expectedMirror)) < 8);
    const gray = await image('full/100,/0/gray.png');
    const raw = await sharp(gray.body).raw().toBuffer({ resolveWithObject: true });
    if (raw.info.channels >= 3) for (let i = 0; i < raw.data.length; i += raw.info.channels) assert.ok(raw.data[i] === raw.data[i + 1] && raw.data[i] === raw.data[i + 2]);
    const webp = await image('full/50,/0/default.webp');
    assert.equal(webp.meta.format, 'webp');
  });

  test('level 2 and beyond: ^ upscaling, any angle, bitonal, canonical Link, the cache', async () => {
    const up = await image('0,0,100,50/^300,/0/default.png');
    assert.deepEqual([up.meta.width, up.meta.height], [300, 150]);
    assert.ok((await meanAbsDiff(up.body, await fromSource(0, 0, 100, 50, 300, 150))) < 10);
    assert.equal(up.res.headers.get('link'), `<${svc.url}/iiif/3/${id}/0,0,100,50/^300,150/0/default.png>;rel="canonical", <http://iiif.io/api/image/3/level2.json>;rel="profile"`);
    // 45 degrees: the bounding box of the rotated image (100 x sqrt 2, rounded down), corners transparent in PNG, white in JPEG.
    const rot = await image('0,0,200,200/100,/45/default.png');
    assert.deepEqual([rot.meta.width, rot.meta.height, rot.meta.hasAlpha], [141, 141, true]);
    const corner = await sharp(rot.body).extract({ left: 0, top: 0, width: 1, height: 1 }).raw().toBuffer();
    assert.equal(corner[3], 0, 'the uncovered corner is transparent');
    const rotJpeg = await image('0,0,200,200/100,/!22.5/default.jpg');
    assert.deepEqual([rotJpeg.meta.width, rotJpeg.meta.height], [131, 131]);
    const jpegCorner = await sharp(rotJpeg.body).extract({ left: 0, top: 0, width: 2, height: 2 }).raw().toBuffer();
    assert.ok(jpegCorner.every((v) => v > 240), 'white corners in a JPEG');
    const bitonal = await image('full/200,/0/bitonal.png');
    const bits = await sharp(bitonal.body).raw().toBuffer();
    assert.ok(bits.every((v) => v === 0 || v === 255), 'bitonal is black and white only');
    assert.ok(bits.includes(0) && bits.includes(255));
    // Composed answers are rendered once, then come from the disk cache; default and color share the entry.
    const first = await image('10,10,300,300/150,/0/default.webp');
    assert.equal(first.res.headers.get('x-cache'), 'MISS');
    assert.equal(first.meta.format, 'webp');
    const again = await image('10,10,300,300/150,/0/color.webp');
    assert.equal(again.res.headers.get('x-cache'), 'HIT');
    assert.ok(again.body.equals(first.body));
    // Every answer names its canonical form, a stored tile too.
    const tile = await image('0,0,256,256/256,/0/default.jpg');
    assert.equal(tile.res.headers.get('x-iiif-source'), 'tile');
    assert.match(tile.res.headers.get('link') ?? '', new RegExp(`^<${svc.url}/iiif/3/${id}/0,0,256,256/256,256/0/default\\.jpg>;rel="canonical"`));
    assert.equal(tile.res.headers.get('access-control-allow-origin'), '*');
  });

  test('info.json and manifests name the server by its own address, never a forged Host or X-Forwarded-Host', async () => {
    const { request } = await import('node:http');
    const get = (path: string, headers: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const u = new URL(`${svc.url}${path}`);
        request({ host: u.hostname, port: u.port, path: u.pathname, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks).toString()));
        })
          .on('error', reject)
          .end();
      });
    for (const path of [`/iiif/3/${id}/info.json`, `/iiif/3/${id}/manifest.json`]) {
      const body = await get(path, { Host: 'evil.example', 'X-Forwarded-Host': 'evil2.example', 'X-Forwarded-Proto': 'https' });
      assert.ok(!body.includes('evil'), `${path}: ${body.slice(0, 200)}`);
      assert.ok(body.includes(`"${svc.url}/iiif/3/${id}`), path);
    }
  });

  test('errors: 400 for bad parameters, 501 for formats not offered, 404 for unknown ids, 409 before tiling', async () => {
    for (const path of ['full/max/0/default.gif', 'full/max/0/default.tif']) {
      const res = await fetch(`${svc.url}/iiif/3/${id}/${path}`);
      assert.equal(res.status, 501, path);
      assert.equal((await res.json()).error.code, 'HUGEMAP_ERR_NOT_IMPLEMENTED');
    }
    for (const path of ['0,0,0,0/max/0/default.jpg', 'full/max/361/default.jpg', 'full/max/0/default.xyz', 'full/5000,/0/default.jpg', '5000,0,10,10/max/0/default.jpg', '0,0,10,10/20,/0/default.jpg', 'full/^5000,/0/default.jpg', 'full/^4097,/0/default.jpg']) {
      const res = await fetch(`${svc.url}/iiif/3/${id}/${path}`);
      assert.equal(res.status, 400, path);
      assert.equal((await res.json()).error.code, 'HUGEMAP_ERR_BAD_REQUEST');
    }
    assert.equal((await fetch(`${svc.url}/iiif/3/${'Q'.repeat(22)}/info.json`)).status, 404);
    assert.equal((await fetch(`${svc.url}/iiif/3/${'Q'.repeat(22)}/full/max/0/default.jpg`)).status, 404);
    await svc.store.update(id, { status: 'processing' });
    try {
      const res = await fetch(`${svc.url}/iiif/3/${id}/info.json`);
      assert.equal(res.status, 409);
      assert.equal((await res.json()).error.code, 'HUGEMAP_ERR_NOT_READY');
    } finally {
      await svc.store.update(id, { status: 'done' });
    }
  });
});
