/**
 * The backup and restore of docs/deploy.md, tried for real: one image through the
 * API and a worker, the database dumped to JSON lines and the bucket copied to a
 * backup bucket (tools/backup.ts), then both lost, then restored; the API serves
 * the image's status, descriptor and tiles again, byte for byte.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';
import { copyBucket, dumpDatabase, restoreDatabase } from '../tools/backup.js';
import { S3Store } from '../shared/storage/s3-store.js';

let service: ImageService;

before(async () => {
  service = await startImageService(await useTestServers(), 'backup');
});
after(async () => {
  await service?.close();
});

async function bytes(url: string): Promise<Buffer> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}

test('an image lost with its database and bucket comes back from the backup', async () => {
  const up = await upload(service.url, await patterned(1200, 900), 'backup.jpg', { title: 'kept safe' });
  assert.equal(up.status, 202);
  const id: string = up.json.id;
  const done = await waitUntilDone(service.url, id);
  const dzi = await bytes(`${service.url}/tiles/${id}/image.dzi`);
  const tile = await bytes(`${service.url}/tiles/${id}/image_files/${done.levels - 1}/1_1.jpeg`);

  // Back up: the database as JSON lines, the bucket into a second bucket.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-backup-'));
  const dumped = await dumpDatabase(service.config.mongoUrl, dir);
  assert.equal(dumped.images, 1);
  assert.ok((await readdir(dir)).includes('images.jsonl'));
  const backup = new S3Store({ ...service.config.s3, bucket: `${service.config.s3.bucket}-bak`.slice(0, 63) });
  await backup.ensureBucket();
  const source = { client: service.s3.client, bucket: service.config.s3.bucket };
  const target = { client: backup.client, bucket: backup.bucket };
  const first = await copyBucket(source, target);
  assert.ok(first.copied > 10, `copied ${first.copied}`);
  assert.deepEqual(await copyBucket(source, target), { copied: 0, skipped: first.copied }, 'a second run copies nothing again');

  // Lose both.
  const client = await MongoClient.connect(service.config.mongoUrl);
  try {
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
  for (const prefix of ['images/', 'originals/']) await service.s3.deletePrefix(prefix);
  for await (const left of service.s3.listKeys('')) assert.fail(`${left.key} survived`);
  assert.equal((await fetch(`${service.url}/api/v1/images/${id}`)).status, 404);
  assert.equal((await fetch(`${service.url}/tiles/${id}/image.dzi`)).status, 404);

  // Restore both; the running API serves the image again.
  const restored = await restoreDatabase(service.config.mongoUrl, dir);
  assert.equal(restored.images, 1);
  const back = await copyBucket(target, source);
  assert.equal(back.copied, first.copied);
  const status = await (await fetch(`${service.url}/api/v1/images/${id}`)).json();
  assert.equal(status.status, 'done');
  assert.equal(status.title, 'kept safe');
  assert.equal(status.tiles.total, done.tiles.total);
  assert.ok(!Number.isNaN(Date.parse(status.createdAt)), 'dates come back as dates');
  assert.deepEqual(await bytes(`${service.url}/tiles/${id}/image.dzi`), dzi);
  assert.deepEqual(await bytes(`${service.url}/tiles/${id}/image_files/${done.levels - 1}/1_1.jpeg`), tile);
  backup.close();
});
