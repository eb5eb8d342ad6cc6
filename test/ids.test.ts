/**
 * Content ids and dedupe against a real API, worker, MongoDB and S3: the same
 * bytes get the same id and are not tiled again, title and tags merge; other
 * bytes get another id; URL submissions keep random ids.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';

const servers = await useTestServers();

async function keys(svc: ImageService, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const { key } of svc.s3.listKeys(prefix)) out.push(key);
  return out.sort();
}

describe('content ids and dedupe', () => {
  let svc: ImageService;
  let origin: http.Server;
  let originUrl: string;
  let served: Buffer;
  before(async () => {
    served = await patterned(80, 60);
    origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(served));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(origin.address() as AddressInfo).port}`;
    originUrl = `http://${host}/remote.jpg`;
    svc = await startImageService(servers, 'ids', { FETCH_ALLOW_HOSTS: host });
  });
  after(async () => {
    await svc?.close();
    origin?.close();
  });

  test('the same bytes again: same id, 200, not tiled again, title replaced and tags merged', async () => {
    const bytes = await patterned(300, 200);
    const first = await upload(svc.url, bytes, 'first.jpg', { title: 'First', tags: 'Sea, boats' });
    assert.equal(first.status, 202);
    const id: string = first.json.id;
    assert.equal(id, createHash('sha256').update(bytes).digest().subarray(0, 16).toString('base64url'));
    const done = await waitUntilDone(svc.url, id);
    assert.equal(done.attempts, 1);
    const tilesBefore = await keys(svc, `images/${id}/`);
    assert.ok(tilesBefore.length > 3);

    const again = await upload(svc.url, bytes, 'again.jpg', { title: 'Second', tags: 'boats,harbour' });
    assert.equal(again.status, 200);
    assert.equal(again.json.id, id);
    assert.equal(again.json.status, 'done');
    assert.equal(again.json.duplicate, true);

    const view = await (await fetch(`${svc.url}/api/v1/images/${id}`)).json();
    assert.equal(view.title, 'Second');
    assert.deepEqual(view.tags, ['sea', 'boats', 'harbour']);
    assert.equal(view.filename, 'first.jpg', 'the first upload named the file');
    assert.equal(view.bytes, bytes.length);
    assert.equal(view.attempts, 1, 'no second tiling run');
    assert.equal(await svc.store.images.countDocuments({ _id: id }), 1);
    assert.deepEqual(await keys(svc, 'uploads/'), [], 'no temporary upload left behind');
    assert.deepEqual(await keys(svc, 'originals/'), [`originals/${id}`]);

    // Without title or tags the second upload changes nothing.
    const third = await upload(svc.url, bytes, 'third.jpg');
    assert.equal(third.status, 200);
    const unchanged = await (await fetch(`${svc.url}/api/v1/images/${id}`)).json();
    assert.equal(unchanged.title, 'Second');
    assert.deepEqual(unchanged.tags, ['sea', 'boats', 'harbour']);
  });

  test('other bytes get another id', async () => {
    const a = await upload(svc.url, await patterned(64, 64), 'a.jpg');
    const b = await upload(svc.url, await patterned(64, 65), 'b.jpg');
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.notEqual(a.json.id, b.json.id);
    assert.match(a.json.id, /^[A-Za-z0-9_-]{22}$/);
  });

  test('two uploads of the same bytes at once end as one image', async () => {
    const bytes = await patterned(128, 96);
    const [x, y] = await Promise.all([upload(svc.url, bytes, 'x.jpg', { tags: 'x' }), upload(svc.url, bytes, 'y.jpg', { tags: 'y' })]);
    assert.equal(x.json.id, y.json.id);
    assert.deepEqual([x.status, y.status].sort(), [200, 202]);
    assert.equal(await svc.store.images.countDocuments({ _id: x.json.id }), 1);
    const view = await (await fetch(`${svc.url}/api/v1/images/${x.json.id}`)).json();
    assert.deepEqual([...view.tags].sort(), ['x', 'y']);
    assert.deepEqual(await keys(svc, 'uploads/'), []);
  });

  test('bad tags are refused before anything is kept', async () => {
    const res = await upload(svc.url, await patterned(32, 32), 'bad.jpg', { tags: 'fine,<script>' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.code, 'HUGEMAP_ERR_BAD_REQUEST');
    assert.deepEqual(await keys(svc, 'uploads/'), []);
  });

  test('URL submissions get a random 22-character id (their bytes are known only to the worker)', async () => {
    const res = await fetch(`${svc.url}/api/v1/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: originUrl, tags: ['Remote'] }),
    });
    assert.equal(res.status, 202);
    const { id } = await res.json();
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.notEqual(id, createHash('sha256').update(served).digest().subarray(0, 16).toString('base64url'));
    assert.deepEqual((await svc.store.get(id))?.tags, ['remote']);
    const done = await waitUntilDone(svc.url, id);
    assert.equal(done.bytes, served.length);
  });
});
