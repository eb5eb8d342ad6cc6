/** The TypeScript client against a real API, worker, MongoDB and S3. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { HugemapApiError, HugemapClient, type ImageInfo } from '../client/index.js';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, type ImageService } from './helpers/image-service.js';

const servers = await useTestServers();
const KEY = 'client-test-signing-key-42';

describe('HugemapClient', () => {
  let svc: ImageService;
  let hm: HugemapClient;
  before(async () => {
    svc = await startImageService(servers, 'client', { SIGNING_KEY: KEY });
    hm = new HugemapClient({ baseUrl: `${svc.url}/`, signingKey: KEY });
  });
  after(() => svc?.close());

  test('package.json exports hugemap/client to the built client', () => {
    const resolved = fileURLToPath(import.meta.resolve('hugemap/client'));
    assert.equal(path.relative(process.cwd(), resolved), path.join('dist', 'client', 'index.js'));
  });

  test('save from a path, a Buffer and a stream; wait with progress; read back', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-client-'));
    const file = path.join(dir, 'Harbour_at-dawn.jpg');
    await writeFile(file, await patterned(700, 400));
    const fromPath = await hm.saveImage(file, { title: 'Harbour', tags: ['Sea', 'boats'] });
    assert.equal(fromPath.status, 'queued');
    assert.equal(fromPath.duplicate, false);
    const seen: ImageInfo[] = [];
    const done = await hm.waitUntilDone(fromPath.id, { onProgress: (i) => seen.push(i), intervalMs: 50 });
    assert.equal(done.status, 'done');
    assert.equal(seen.at(-1)?.status, 'done');
    assert.ok(seen.length >= 1);
    assert.equal(done.filename, 'Harbour_at-dawn.jpg');
    assert.deepEqual(done.tags, ['sea', 'boats']);

    const buffer = await patterned(300, 300);
    const fromBuffer = await hm.saveImage(buffer, { filename: 'square.jpg' });
    const fromStream = await hm.saveImage(Readable.from([buffer.subarray(0, 1000), buffer.subarray(1000)]), { tags: ['again'] });
    assert.equal(fromStream.id, fromBuffer.id, 'same bytes, same id');
    assert.equal(fromStream.duplicate, true);
    assert.equal(await hm.getLength(fromBuffer.id), buffer.length);
    assert.equal((await hm.getImage(fromBuffer.id)).filename, 'square.jpg');
  });

  test('URLs: scaled (signed when needed), original, tag and dimensions agree with the server', async () => {
    const { id } = await hm.saveImage(await patterned(640, 480), { filename: 'pic.png' });
    await hm.waitUntilDone(id, { intervalMs: 50 });
    const signed = hm.scaledImageUrl(id, '200x100', { format: 'webp', slug: 'my pic' });
    assert.match(signed, new RegExp(`/i/200x100/${id}/my%20pic\\.webp\\?s=[A-Za-z0-9_-]{22}$`));
    const res = await fetch(signed);
    assert.equal(res.status, 200);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [133, 100, 'webp']);
    assert.deepEqual(await hm.scaledDimensions(id, '200x100'), { width: 133, height: 100 });
    assert.ok(!hm.scaledImageUrl(id, 'thumb').includes('?s='), 'presets are not signed');
    assert.equal((await fetch(hm.scaledImageUrl(id, 'thumb'))).status, 200);
    const unsigned = new HugemapClient({ baseUrl: svc.url });
    assert.equal((await fetch(unsigned.scaledImageUrl(id, '200x100'))).status, 403);
    assert.equal((await fetch(hm.imageUrl(id))).status, 200);
    const tag = await hm.scaledTag(id, '200x100');
    assert.match(tag, /^<img src="\/i\/200x100\/[^"]+\.jpg\?s=[^"]+" width="133" height="100" alt="pic">$/);
  });

  test('browsing, titles, tags and deleting', async () => {
    const a = (await hm.saveImage(await patterned(50, 40))).id;
    const b = (await hm.saveImage(await patterned(50, 41))).id;
    // b is newer: it comes first in the listing, a right after it.
    assert.equal(await hm.getNextImageId(b), a);
    assert.equal(await hm.getPreviousImageId(a), b);
    assert.equal(await hm.getPreviousImageId(b), null, 'the newest has no previous');
    const random = await hm.getRandomImageId();
    const listed = ((await (await fetch(`${svc.url}/api/v1/images?limit=100`)).json()) as { items: Array<{ id: string }> }).items.map((i) => i.id);
    assert.ok(listed.includes(a) && listed.includes(b), 'both are listed');
    assert.ok(listed.includes(random), `random ${random} is one of the listed images ${listed.join(', ')}`);
    assert.equal((await hm.setTitle(a, 'Renamed')).title, 'Renamed');
    assert.deepEqual((await hm.setTags(a, ['One', 'two'])).tags, ['one', 'two']);
    await hm.deleteImage(a);
    await assert.rejects(hm.getImage(a), (err: unknown) => err instanceof HugemapApiError && err.code === 'HUGEMAP_ERR_NOT_FOUND' && err.status === 404);
  });

  test('errors carry the API codes; a failed image rejects waitUntilDone with its code', async () => {
    await assert.rejects(hm.saveImage(Buffer.from('not a picture at all')), (err: unknown) => err instanceof HugemapApiError && err.code === 'HUGEMAP_ERR_NOT_AN_IMAGE' && err.status === 415);
    await assert.rejects(hm.scaledDimensions('A'.repeat(22), 'nonsense'), { code: 'HUGEMAP_ERR_BAD_REQUEST' });
    // A JPEG header on garbage passes the sniff and fails in the worker.
    const broken = Buffer.concat([(await patterned(64, 64)).subarray(0, 200), Buffer.alloc(500, 7)]);
    const { id } = await hm.saveImage(broken);
    await assert.rejects(hm.waitUntilDone(id, { intervalMs: 50 }), (err: unknown) => err instanceof HugemapApiError && /^HUGEMAP_ERR_(CORRUPT_IMAGE|NOT_AN_IMAGE)$/.test(err.code));
    const offline = new HugemapClient({ baseUrl: 'http://127.0.0.1:1' });
    await assert.rejects(offline.getImage(id), { code: 'HUGEMAP_ERR_UNREACHABLE' });
  });
});

describe('HugemapClient with an API key (AUTH_MODE=required)', () => {
  const TOKEN = 'bootstrap-admin-token-0123456789';
  let svc: ImageService;
  before(async () => {
    svc = await startImageService(servers, 'client-auth', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN }, { worker: false });
  });
  after(() => svc?.close());

  test('apiKey goes as a bearer token: uploads as its user, private stays private; without it the upload is refused', async () => {
    const admin = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    assert.equal((await fetch(`${svc.url}/api/v1/users`, { method: 'POST', headers: admin, body: '{"name":"uma","password":"uma-password-123"}' })).status, 201);
    const { key } = (await (await fetch(`${svc.url}/api/v1/keys`, { method: 'POST', headers: admin, body: '{"user":"uma","scopes":["read","write"]}' })).json()) as { key: string };
    const uma = new HugemapClient({ baseUrl: svc.url, apiKey: key });
    const saved = await uma.saveImage(await patterned(64, 48), { filename: 'p.jpg', visibility: 'private' });
    const info: ImageInfo = await uma.getImage(saved.id);
    assert.deepEqual([info.owner, info.visibility], ['uma', 'private']);
    const anonymous = new HugemapClient({ baseUrl: svc.url });
    await assert.rejects(anonymous.getImage(saved.id), (err: HugemapApiError) => err.code === 'HUGEMAP_ERR_NOT_FOUND' && err.status === 404);
    await assert.rejects(anonymous.saveImage(await patterned(64, 48), { filename: 'q.jpg' }), (err: HugemapApiError) => err.code === 'HUGEMAP_ERR_UNAUTHENTICATED');
  });
});
