/**
 * The MongoDB-compatible server going away under a running API and worker
 * (FerretDB behind a TCP relay that is switched off: new connections refused,
 * open ones reset): the API answers 503 HUGEMAP_ERR_DB_UNAVAILABLE with
 * Retry-After instead of 500, still serves cached scaled images of images it
 * knows to be public (never private ones), and an upload refused meanwhile
 * leaves nothing in S3.
 */
// npm test: runs alone (FerretDB is switched off under it for a moment, with 1.5 s timeouts)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, waitUntilDone, patterned, type ImageService } from './helpers/image-service.js';
import { hostPortOf, startTcpSwitch, throughSwitch, type TcpSwitch } from './helpers/tcp-switch.js';
import { assertNoStack } from './helpers/api-harness.js';

const servers = await useTestServers();

async function serviceBehindSwitch(name: string): Promise<{ service: ImageService; db: TcpSwitch }> {
  const db = await startTcpSwitch(hostPortOf(servers.mongoUrl));
  const service = await startImageService({ ...servers, mongoUrl: throughSwitch(servers.mongoUrl, db) }, name, { MONGO_TIMEOUT_MS: '1500' });
  after(async () => {
    await db.on();
    await service.close();
    await db.close();
  });
  return { service, db };
}

async function keysUnder(service: ImageService, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of service.s3.listKeys(prefix)) keys.push(o.key);
  return keys.sort();
}

async function expectDbUnavailable(res: Response): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, 503, text);
  assertNoStack(text);
  assert.equal(JSON.parse(text).error.code, 'HUGEMAP_ERR_DB_UNAVAILABLE');
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(retryAfter > 0, `Retry-After: ${res.headers.get('retry-after')}`);
}

test('database down: 503 with Retry-After; a cached size of a public image is still served, a private or uncached one is not', async () => {
  const { service, db } = await serviceBehindSwitch('rel-db-down');
  const publicId = (await upload(service.url, await patterned(640, 400), 'a.jpg')).json.id as string;
  const privateId = (await upload(service.url, await patterned(500, 300), 'b.jpg')).json.id as string;
  await waitUntilDone(service.url, publicId);
  await waitUntilDone(service.url, privateId);
  await service.store.update(privateId, { visibility: 'private' });
  for (const id of [publicId, privateId]) {
    const first = await fetch(`${service.url}/i/200x200/${id}.jpg`);
    assert.equal(first.status, 200);
    await first.arrayBuffer();
  }
  const cached = Buffer.from(await (await fetch(`${service.url}/i/200x200/${publicId}.jpg`)).arrayBuffer());

  await db.off();
  await expectDbUnavailable(await fetch(`${service.url}/api/v1/images/${publicId}`));
  await expectDbUnavailable(await fetch(`${service.url}/api/v1/images`));

  const hit = await fetch(`${service.url}/i/200x200/${publicId}.jpg`);
  assert.equal(hit.status, 200);
  assert.equal(hit.headers.get('x-cache'), 'HIT');
  assert.deepEqual(Buffer.from(await hit.arrayBuffer()), cached);
  // Same cache, but private: only the database can say who may see it.
  await expectDbUnavailable(await fetch(`${service.url}/i/200x200/${privateId}.jpg`));
  // Not cached: rendering needs the document.
  await expectDbUnavailable(await fetch(`${service.url}/i/300x300/${publicId}.jpg`));

  await db.on();
  const back = await fetch(`${service.url}/api/v1/images/${publicId}`);
  assert.equal(back.status, 200);
  assert.equal((await back.json()).status, 'done');
});

test('an upload refused because the database is down leaves nothing in uploads/ or originals/', async () => {
  const { service, db } = await serviceBehindSwitch('rel-db-upload');
  await db.off();
  const res = await upload(service.url, await patterned(300, 200), 'c.jpg');
  assert.equal(res.status, 503);
  assert.equal(res.json.error.code, 'HUGEMAP_ERR_DB_UNAVAILABLE');
  assert.deepEqual(await keysUnder(service, 'uploads/'), []);
  assert.deepEqual(await keysUnder(service, 'originals/'), []);

  // The same bytes go through once the database is back.
  await db.on();
  const again = await upload(service.url, await patterned(300, 200), 'c.jpg');
  assert.equal(again.status, 202);
  assert.deepEqual(await keysUnder(service, 'originals/'), [`originals/${again.json.id}`]);
  assert.deepEqual(await keysUnder(service, 'uploads/'), []);
});
