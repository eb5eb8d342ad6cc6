/**
 * A band worker killed with SIGKILL in the middle of its band (a worker in a child process, its
 * tile uploads hanging): BullMQ recovers the stalled band, a second worker on "another machine"
 * (its own scratch folder) resumes it from the band's checkpoint, and the image completes with the
 * unsplit pyramid byte for byte, no tile uploaded twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { useTestServers } from './helpers/servers.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import { tempDir } from './helpers/fixtures.js';
import { assertPyramidInS3, noisy } from './helpers/split-fixtures.js';
import type { Config } from '../shared/config.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { newImageDoc, type ImageDoc } from '../shared/image-status.js';
import { createTileQueue, enqueueTileJob } from '../shared/queue.js';
import { tileImage } from '../shared/tiling/tile-image.js';
import { childWorkerEnv, spawnWorker } from './helpers/worker-process.js';

const SPLIT_PIXELS = 2_000_000;



const workerEnv = (config: Config, s3Endpoint: string, workDir: string) => childWorkerEnv(config, s3Endpoint, workDir, { WORKER_SPLIT_PIXELS: String(SPLIT_PIXELS) });

let config: Config;
let store: StatusStore;
let s3: S3Store;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
const children: ChildProcess[] = [];
const tmp = await tempDir('hugemap-split-resume-');
const id = 'splitresume' + Math.random().toString(36).slice(2, 8);

before(async () => {
  const servers = await useTestServers();
  config = await testConfig(servers, 'split-resume');
  store = await StatusStore.connect(config.mongoUrl);
  s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  // After the first 30 tile PUTs the link hangs: the first band has checkpointed some rows and is cut mid-way.
  let tilePuts = 0;
  proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    hold: ({ method, path: p }) => method === 'PUT' && p.includes(`/images/${id}/image_files/`) && ++tilePuts > 30,
  });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await proxy?.close();
  await store?.close();
  await tmp.remove();
});

test('SIGKILL mid-band: the band resumes elsewhere from its checkpoint and the image completes identically', async () => {
  const width = 2001;
  const height = 3000;
  const jpeg = await noisy(width, height, 3).jpeg({ quality: 85 }).toBuffer();
  const input = tmp.file('big.jpg');
  await writeFile(input, jpeg);
  await s3.putBody(`originals/${id}`, jpeg, { contentType: 'image/jpeg' });
  await store.create(newImageDoc(id, { kind: 'upload', filename: 'big.jpg', bytes: jpeg.length }, 'split resume'));
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  await enqueueTileJob(queue, id);

  const first = spawnWorker(workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-split-a-'))));
  children.push(first);
  const atKill = await waitFor('a band part-way through its upload', async () => {
    const doc = await store.get(id);
    const rows = Object.values(doc?.checkpoint.parts ?? {}).flatMap((cp) => cp.rows).reduce((a, b) => a + b, 0);
    return rows > 0 ? doc! : undefined;
  }, 120_000, 20);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  proxy.release();
  assert.ok(atKill.parts && atKill.parts.total >= 2, 'the image was split');
  assert.equal(atKill.parts.done, 0, 'the kill landed inside the first band');

  const second = spawnWorker(workerEnv(config, proxy.url, await mkdtemp(path.join(os.tmpdir(), 'hm-split-b-'))));
  children.push(second);
  const done = await waitFor<ImageDoc>('the image to finish', async () => {
    const doc = await store.get(id);
    return doc?.status === 'done' || doc?.status === 'failed' ? doc : undefined;
  }, 180_000, 100);
  second.kill('SIGTERM');
  await queue.close();
  assert.equal(done.status, 'done', JSON.stringify(done.error));
  assert.deepEqual(done.parts, { total: atKill.parts.total, done: atKill.parts.total });

  const whole = tmp.file('whole');
  await tileImage(input, whole, { maxPixels: 1e9, tmpDir: tmp.path });
  const tiles = await assertPyramidInS3(s3, id, whole);
  const puts = proxy.countSuccessfulPuts(`/${config.s3.bucket}/images/${id}/image_files/`);
  assert.deepEqual([...puts].filter(([, n]) => n > 1), [], 'no tile may be uploaded twice');
  assert.equal(puts.size, tiles, 'every tile went up once');
});
