/**
 * The reconciler (workers/reconciler.ts) settling images whose status and
 * BullMQ job disagree for good, against real servers:
 *  - Redis loses its data (FLUSHALL on a Redis of this test's own) while images
 *    are queued: the workers' reconciler queues them again and they finish;
 *  - the database goes down while a job runs, the job spends its attempts and
 *    ends failed in BullMQ while the status still says processing: once the
 *    database is back, `hugemap reconcile` queues it again and it finishes;
 *  - a job that failed for good (bad input) but whose failure never reached the
 *    database: the reconciler records it, with its code.
 */
// npm test: runs alone (its database goes down mid-job, and reconcilers run every 300 ms)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { Redis } from 'ioredis';
import { UnrecoverableError, Worker } from 'bullmq';
import { startTestServers, useTestServers } from './helpers/servers.js';
import { startImageService, upload, waitUntilDone, patterned } from './helpers/image-service.js';
import { hostPortOf, startTcpSwitch, throughSwitch } from './helpers/tcp-switch.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import type { Config } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { newImageDoc } from '../shared/image-status.js';
import { createTileQueue, enqueueTileJob, partJobId, TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { startWorker } from '../workers/start-worker.js';
import { reconcileOnce } from '../workers/reconciler.js';

const servers = await useTestServers();
const root = path.resolve(import.meta.dirname, '..');

test('Redis loses its data while images are queued: the reconciler queues them again and they finish', async () => {
  // A Redis of this test's own, since it is flushed.
  const own = await startTestServers({ ...process.env, MONGO_URL: servers.mongoUrl, S3_ENDPOINT: servers.s3.endpoint, S3_REGION: servers.s3.region, S3_ACCESS_KEY_ID: servers.s3.accessKeyId, S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey });
  // Closed newest first, Redis last: a client closed after its server is gone waits for it forever.
  const closers: Array<() => Promise<unknown>> = [() => own.stop()];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const service = await startImageService({ ...servers, redisUrl: own.redisUrl }, 'rel-flush', { RECONCILE_INTERVAL_MS: '300', RECONCILE_GRACE_MS: '0' }, { worker: false });
  closers.push(() => service.close());
  const ids: string[] = [];
  for (const w of [300, 340]) ids.push((await upload(service.url, await patterned(w, 200), `${w}.jpg`)).json.id as string);

  const redis = new Redis(own.redisUrl);
  closers.push(() => redis.quit());
  assert.equal(await redis.flushall(), 'OK');
  const queue = createTileQueue(own.redisUrl, service.config.queuePrefix);
  closers.push(() => queue.close());
  for (const id of ids) assert.equal(await queue.getJob(id), undefined, 'the flush took the jobs');

  const worker = await startWorker(service.config, createLogger('worker', 'silent'));
  closers.push(() => worker.close());
  for (const id of ids) {
    const done = await waitUntilDone(service.url, id);
    assert.equal(done.status, 'done');
  }
});

test('a job that spent its attempts while the database was down is queued again by `hugemap reconcile` and finishes', async () => {
  const db = await startTcpSwitch(hostPortOf(servers.mongoUrl));
  // The worker's first look at the original waits until the test has cut the database.
  const s3 = await startFaultProxy({ target: servers.s3.endpoint, hold: ({ method, path: p, n }) => method === 'HEAD' && p.includes('/originals/') && n === 1 });
  const routed = { ...servers, mongoUrl: throughSwitch(servers.mongoUrl, db), s3: { ...servers.s3, endpoint: s3.url } };
  const service = await startImageService(routed, 'rel-dbjob', { MONGO_TIMEOUT_MS: '1000', JOB_ATTEMPTS: '2', RETRY_DELAY_MS: '200' });
  after(async () => {
    await db.on();
    s3.release();
    await service.close();
    await db.close();
    await s3.close();
  });
  const queue = createTileQueue(service.config.redisUrl, service.config.queuePrefix);

  const id = (await upload(service.url, await patterned(400, 300), 'd.jpg')).json.id as string;
  await waitFor('the worker to start the job', async () => ((await service.store.get(id))?.status === 'processing' ? true : undefined), 60_000);
  await db.off();
  s3.release();
  const job = await waitFor('the job to fail in BullMQ', async () => {
    const j = await queue.getJob(id);
    return j && (await j.getState()) === 'failed' ? j : undefined;
  }, 60_000, 200);
  assert.equal(job.data.lastError?.kind, 'transient');
  assert.equal(job.data.lastError?.code, 'HUGEMAP_ERR_DB_UNAVAILABLE');

  await db.on();
  const stuck = await waitFor('the database to answer again', async () => service.store.get(id).catch(() => undefined), 30_000, 200);
  assert.equal(stuck?.status, 'processing', 'the worker could not record the failure: the status is stuck');

  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'reconcile', '--grace-ms', '0'], {
    cwd: root,
    env: { ...process.env, ...configEnv(service.config) },
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { requeued: string[]; failed: string[] };
  assert.deepEqual(report.requeued, [id]);
  assert.deepEqual(report.failed, []);
  const done = await waitUntilDone(service.url, id);
  await queue.close();
  assert.equal(done.status, 'done');
  assert.equal(done.progress, 1);
});

test('a job that failed for good while its failure could not be recorded is marked failed with its code', async () => {
  const config = await testConfig(servers, 'rel-permanent', { RECONCILE_GRACE_MS: '0' });
  const store = await StatusStore.connect(config.mongoUrl);
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  const s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  after(async () => {
    await queue.close();
    await store.close();
    s3.close();
  });
  const id = 'permfail' + Math.random().toString(36).slice(2, 10);
  await store.create({ ...newImageDoc(id, { kind: 'upload', bytes: 10 }, null), status: 'processing', stage: 'probe' });
  await enqueueTileJob(queue, id, { attempts: 3 });
  // What tile-worker.ts leaves in Redis when the database refused the failure: the record, then a failed job.
  const failing = new Worker<TileJobData>(TILE_QUEUE, async (job) => {
    await job.updateData({ ...job.data, lastError: { code: 'HUGEMAP_ERR_CORRUPT_IMAGE', message: 'the original image is damaged or truncated: premature end', kind: 'permanent' } });
    throw new UnrecoverableError('HUGEMAP_ERR_CORRUPT_IMAGE');
  }, { connection: { url: config.redisUrl }, prefix: config.queuePrefix });
  await waitFor('the job to fail', async () => ((await (await queue.getJob(id))?.getState()) === 'failed' ? true : undefined), 30_000);
  await failing.close();

  const report = await reconcileOnce({ config, store, queue, s3, logger: createLogger('reconcile', 'silent') });
  assert.deepEqual(report, { checked: 1, requeued: [], failed: [id] });
  const doc = await store.get(id);
  assert.equal(doc?.status, 'failed');
  assert.deepEqual(doc?.error, { code: 'HUGEMAP_ERR_CORRUPT_IMAGE', message: 'the original image is damaged or truncated: premature end' });
  // Settled: a second pass finds nothing to do.
  assert.deepEqual(await reconcileOnce({ config, store, queue, s3, logger: createLogger('reconcile', 'silent') }), { checked: 0, requeued: [], failed: [] });
});

/** The environment a `hugemap` process needs to act on this test's database, bucket and queue. */
function configEnv(config: Config): Record<string, string> {
  return {
    REDIS_URL: config.redisUrl,
    MONGO_URL: config.mongoUrl,
    S3_ENDPOINT: config.s3.endpoint!,
    S3_BUCKET: config.s3.bucket,
    S3_ACCESS_KEY_ID: config.s3.accessKeyId!,
    S3_SECRET_ACCESS_KEY: config.s3.secretAccessKey!,
    QUEUE_PREFIX: config.queuePrefix,
    LOG_LEVEL: 'warn',
  };
}

test('a split image whose parts are still queued is left alone, though its own job has completed', async () => {
  const config = await testConfig(servers, 'rel-split', { RECONCILE_GRACE_MS: '0' });
  const store = await StatusStore.connect(config.mongoUrl);
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  const s3 = new S3Store(config.s3);
  after(async () => {
    await queue.close();
    await store.close();
    s3.close();
  });
  const id = 'splitwait' + Math.random().toString(36).slice(2, 10);
  await store.create({ ...newImageDoc(id, { kind: 'upload', bytes: 10 }, null), status: 'processing', stage: 'tile', parts: { total: 2, done: 0 } });
  // The image's own job as it ends after queuing the parts, and the assembling job still waiting.
  await enqueueTileJob(queue, id);
  const splitter = new Worker<TileJobData>(TILE_QUEUE, async () => 'split', { connection: { url: config.redisUrl }, prefix: config.queuePrefix });
  await waitFor('the image job to complete', async () => ((await (await queue.getJob(id))?.getState()) === 'completed' ? true : undefined), 30_000);
  await splitter.close();
  await queue.add('tile', { imageId: id, part: { kind: 'assemble' } }, { jobId: partJobId(id, { kind: 'assemble' }), delay: 3_600_000 });

  const report = await reconcileOnce({ config, store, queue, s3, logger: createLogger('reconcile', 'silent') });
  assert.deepEqual(report, { checked: 1, requeued: [], failed: [] });
  assert.equal((await store.get(id))?.status, 'processing');
});
