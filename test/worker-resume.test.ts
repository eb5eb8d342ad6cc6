/**
 * A worker killed with SIGKILL in the middle of uploading tiles: BullMQ recovers
 * the stalled job, a second worker (on "another machine": its own scratch
 * folder, so it must re-tile) finishes it, and S3 ends up with every tile
 * exactly once: nothing missing, nothing uploaded twice. The progress shown
 * never goes back on the way, and the attempt the second worker logs is the
 * one the status document counts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import type { Config } from '../shared/config.js';
import { StatusStore } from '../shared/status-store.js';
import { StatusEvents } from '../shared/status-events.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { newImageDoc } from '../shared/image-status.js';
import { createTileQueue, enqueueTileJob } from '../shared/queue.js';
import { deepZoomLevels, tileCount } from '../shared/tiling/pyramid.js';
import { childWorkerEnv, spawnWorker } from './helpers/worker-process.js';




const workerEnv = childWorkerEnv;

let config: Config;
let store: StatusStore;
let s3: S3Store;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
const children: ChildProcess[] = [];

before(async () => {
  const servers = await useTestServers();
  config = await testConfig(servers, 'resume');
  store = await StatusStore.connect(config.mongoUrl);
  s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  // After the first 80 tile PUTs the link hangs: some rows are checkpointed and
  // the rows after them are cut mid-way, which is where the kill lands.
  let tilePuts = 0;
  proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    hold: ({ method, path }) => method === 'PUT' && path.includes('/resumetest') && ++tilePuts > 80,
  });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await proxy?.close();
  await store?.close();
});

test('SIGKILL mid-upload: the job resumes elsewhere with no missing and no re-uploaded tiles', async () => {
  const width = 3000;
  const height = 2000;
  const jpeg = await sharp({ create: { width, height, channels: 3, background: '#446688', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
    .jpeg({ quality: 80 })
    .toBuffer();
  const id = 'resumetest' + Math.random().toString(36).slice(2, 8);
  await s3.putBody(`originals/${id}`, jpeg, { contentType: 'image/jpeg' });
  await store.create(newImageDoc(id, { kind: 'upload', filename: 'big.jpg', bytes: jpeg.length }, 'resume'));
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  await enqueueTileJob(queue, id);
  // Every status change, as the event stream publishes it to viewers.
  const events = new StatusEvents(config.redisUrl, config.queuePrefix);
  const shown: number[] = [];
  const unsubscribe = await events.subscribe(id, (doc) => shown.push(doc.progress));

  const first = spawnWorker(workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-a-'))));
  children.push(first);
  const atKill = await waitFor('some tiles uploaded', async () => {
    const doc = await store.get(id);
    const n = doc?.checkpoint.tileRows?.rows.reduce((a, b) => a + b, 0) ?? 0;
    return n > 0 ? doc!.tiles.done : undefined;
  }, 120_000, 20);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  proxy.release();
  // Tiles plus thumbnail, manifest, descriptor and the preview (stored once, by the first worker, before its cut).
  const totalFiles = tileCount(deepZoomLevels(width, height, 256)) + 4;
  assert.ok(atKill < totalFiles, 'the kill must land before the upload finished');

  const secondLog: string[] = [];
  const second = spawnWorker({ ...workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-b-'))), LOG_LEVEL: 'info' }, secondLog);
  children.push(second);
  const done = await finished(id);
  second.kill('SIGTERM');
  await new Promise((r) => second.once('exit', r));
  await queue.close();
  await unsubscribe();
  await events.close();

  const backwards = shown.flatMap((p, i) => (i > 0 && p < shown[i - 1]! ? [`${shown[i - 1]} -> ${p}`] : []));
  assert.deepEqual(backwards, [], `progress went back: ${shown.join(', ')}`);
  assert.equal(shown.at(-1), 1);
  const started = secondLog.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; imageId?: string; attempt?: number }).filter((l) => l.msg === 'job started' && l.imageId === id);
  assert.deepEqual(started.map((l) => l.attempt), [done.attempts], 'the second worker logs the attempt the status counts');

  assert.equal(done.status, 'done', JSON.stringify(done.error));
  assert.ok(done.attempts >= 2, 'the second worker must have picked the job up again');
  const keys: string[] = [];
  for await (const o of s3.listKeys(`images/${id}/`)) keys.push(o.key);
  assert.equal(keys.length, totalFiles, 'every tile, thumbnail, manifest, descriptor and the preview is in S3');
  const puts = proxy.countSuccessfulPuts(`/${config.s3.bucket}/images/${id}/`);
  const twice = [...puts].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no object may be uploaded twice');
  assert.equal(puts.size, totalFiles);
});

async function queueImage(width: number, height: number): Promise<string> {
  const jpeg = await sharp({ create: { width, height, channels: 3, background: '#664422', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
    .jpeg({ quality: 80 })
    .toBuffer();
  const id = 'shutdown' + Math.random().toString(36).slice(2, 10);
  await s3.putBody(`originals/${id}`, jpeg, { contentType: 'image/jpeg' });
  await store.create(newImageDoc(id, { kind: 'upload', filename: 'x.jpg', bytes: jpeg.length }, null));
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  await enqueueTileJob(queue, id);
  await queue.close();
  return id;
}

/** The status document once the job is done or failed (bounded wait). */
function finished(id: string) {
  return waitFor('the job to finish', async () => {
    const doc = await store.get(id);
    return doc?.status === 'done' || doc?.status === 'failed' ? doc : undefined;
  }, 180_000, 200);
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

test('SIGTERM: a worker finishes its running job within the deadline, then exits 0', async () => {
  const id = await queueImage(2000, 1500);
  const env = { ...workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-c-'))), SHUTDOWN_TIMEOUT_MS: '120000' };
  const worker = spawnWorker(env);
  children.push(worker);
  await waitFor('the job to start', async () => ((await store.get(id))?.status === 'processing' ? true : undefined), 60_000, 20);
  const exited = exitOf(worker);
  worker.kill('SIGTERM');
  assert.equal(await exited, 0);
  const doc = await store.get(id);
  assert.equal(doc?.status, 'done', 'the running job is finished before the worker exits');
});

test('SIGTERM past the deadline: the worker exits 0, the job is not failed, and another worker completes it', async () => {
  const id = await queueImage(3000, 2000);
  // A link so slow that the upload cannot finish inside the 1 s deadline.
  const slow = await startFaultProxy({ target: (await useTestServers()).s3.endpoint, delayMs: 400 });
  after(() => slow.close());
  const env = { ...workerEnv(config, slow.url, await mkdtemp(path.join(os.tmpdir(), 'hm-d-'))), SHUTDOWN_TIMEOUT_MS: '1000' };
  const worker = spawnWorker(env);
  children.push(worker);
  await waitFor('some tiles uploaded', async () => ((await store.get(id))?.checkpoint.tileRows?.rows.some((n) => n > 0) ? true : undefined), 120_000, 20);
  const exited = exitOf(worker);
  worker.kill('SIGTERM');
  assert.equal(await exited, 0);
  const handedBack = await store.get(id);
  assert.equal(handedBack?.status, 'processing', 'a job cut short by shutdown is not a failed job');

  const next = spawnWorker(workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-e-'))));
  children.push(next);
  const done = await finished(id);
  next.kill('SIGTERM');
  assert.equal(done.status, 'done', JSON.stringify(done.error));
});
