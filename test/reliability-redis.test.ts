/**
 * Redis going away under a running API and worker (the real Redis behind a
 * TCP relay that is switched off): an upload is refused within seconds with
 * 503 HUGEMAP_ERR_QUEUE_UNAVAILABLE instead of hanging for the whole outage,
 * and leaves no object in S3 and no status document; the worker waits, and
 * once Redis is back the same upload is accepted and tiled.
 */
// npm test: runs alone (Redis is switched off under it for a moment, with 1 s timeouts)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, waitUntilDone, patterned } from './helpers/image-service.js';
import { hostPortOf, startTcpSwitch, throughSwitch } from './helpers/tcp-switch.js';
import { waitFor } from './helpers/test-config.js';

const servers = await useTestServers();

test('Redis down: uploads fail fast with 503 QUEUE_UNAVAILABLE and leave nothing behind; the worker carries on after', async () => {
  const redis = await startTcpSwitch(hostPortOf(servers.redisUrl));
  const service = await startImageService({ ...servers, redisUrl: throughSwitch(servers.redisUrl, redis) }, 'rel-redis', { QUEUE_TIMEOUT_MS: '1000' });
  after(async () => {
    await redis.on();
    await service.close();
    await redis.close();
  });
  const image = await patterned(320, 240);

  await redis.off();
  // A deadline, not a timing assertion: before the fix this request hung for as long as Redis was away.
  const refused = await Promise.race([
    upload(service.url, image, 'r.jpg'),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('upload still waiting after 30 s')), 30_000).unref()),
  ]);
  assert.equal(refused.status, 503);
  assert.equal(refused.json.error.code, 'HUGEMAP_ERR_QUEUE_UNAVAILABLE');
  const keys: string[] = [];
  for (const prefix of ['uploads/', 'originals/']) for await (const o of service.s3.listKeys(prefix)) keys.push(o.key);
  assert.deepEqual(keys, []);
  assert.deepEqual((await service.store.list({ limit: 10 })).items, []);

  await redis.on();
  const accepted = await waitFor('the upload to be accepted once Redis is back', async () => {
    const res = await upload(service.url, image, 'r.jpg');
    return res.status === 202 ? res : undefined;
  }, 60_000, 500);
  const done = await waitUntilDone(service.url, accepted.json.id);
  assert.equal(done.status, 'done');
});
