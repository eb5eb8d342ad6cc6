/**
 * A band worker killed with SIGKILL in the middle of its band (a worker in a child process, its
 * tile uploads hanging): BullMQ recovers the stalled band, a second worker on "another machine"
 * (its own scratch folder) resumes it from the band's checkpoint, and the image completes with the
 * unsplit pyramid byte for byte, no tile uploaded twice; also for a band cut as columns.
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

let servers: Awaited<ReturnType<typeof useTestServers>>;
let config: Config;
let store: StatusStore;
let s3: S3Store;
const proxies: Awaited<ReturnType<typeof startFaultProxy>>[] = [];
const children: ChildProcess[] = [];
const tmp = await tempDir('hugemap-split-resume-');

before(async () => {
  servers = await useTestServers();
  config = await testConfig(servers, 'split-resume');
  store = await StatusStore.connect(config.mongoUrl);
  s3 = new S3Store(config.s3);
  await s3.ensureBucket();
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of proxies) await p.close();
  await store?.close();
  await tmp.remove();
});

/**
 * Uploads `body` as image `id`, lets a worker cut it until its tile PUTs hang after the first 30
 * (the first band has checkpointed some rows and is cut mid-way), kills it, and has a second worker
 * with its own scratch folder finish it; the pyramid must be the unsplit one, each tile PUT once.
 */
async function killMidBandAndResume(name: string, body: Buffer, contentType: string, env: NodeJS.ProcessEnv = {}, resumeEnv: NodeJS.ProcessEnv = env): Promise<ImageDoc> {
  const id = `splitresume${name}${Math.random().toString(36).slice(2, 8)}`;
  let tilePuts = 0;
  const proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    hold: ({ method, path: p }) => method === 'PUT' && p.includes(`/images/${id}/image_files/`) && ++tilePuts > 30,
  });
  proxies.push(proxy);
  const workerEnv = (workDir: string, own = env) => childWorkerEnv(config, proxy.url, workDir, { WORKER_SPLIT_PIXELS: String(SPLIT_PIXELS), ...own });
  const input = tmp.file(`${name}-original`);
  await writeFile(input, body);
  await s3.putBody(`originals/${id}`, body, { contentType });
  await store.create(newImageDoc(id, { kind: 'upload', filename: `${name}-original`, bytes: body.length }, 'split resume'));
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  await enqueueTileJob(queue, id);

  const first = spawnWorker(workerEnv(await mkdtemp(path.join(os.tmpdir(), 'hm-split-a-'))));
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

  const second = spawnWorker(workerEnv(await mkdtemp(path.join(os.tmpdir(), 'hm-split-b-')), resumeEnv));
  children.push(second);
  const done = await waitFor<ImageDoc>('the image to finish', async () => {
    const doc = await store.get(id);
    return doc?.status === 'done' || doc?.status === 'failed' ? doc : undefined;
  }, 180_000, 100);
  second.kill('SIGTERM');
  await queue.close();
  assert.equal(done.status, 'done', JSON.stringify(done.error));
  assert.deepEqual(done.parts, { total: atKill.parts.total, done: atKill.parts.total });

  const whole = tmp.file(`${name}-whole`);
  await tileImage(input, whole, { maxPixels: 1e9, tmpDir: tmp.path });
  const tiles = await assertPyramidInS3(s3, id, whole);
  const puts = proxy.countSuccessfulPuts(`/${config.s3.bucket}/images/${id}/image_files/`);
  assert.deepEqual([...puts].filter(([, n]) => n > 1), [], 'no tile may be uploaded twice');
  assert.equal(puts.size, tiles, 'every tile went up once');
  assert.equal(done.tiles.done, tiles, 'the parts\' tiles add up to the image\'s');
  return done;
}

test('SIGKILL mid-band: the band resumes elsewhere from its checkpoint and the image completes identically', async () => {
  const jpeg = await noisy(2001, 3000, 3).jpeg({ quality: 85 }).toBuffer();
  await killMidBandAndResume('jpeg', jpeg, 'image/jpeg');
});

test('SIGKILL mid-band in a band cut as columns: each column resumes from its own checkpoint, on a worker set to other columns too, and the image completes identically', async () => {
  // A tiled TIFF, 3 bands of 1024 rows (k = 1), each cut as 4 columns of at most 512 px: 10 tiles a column on
  // the band's levels, so the kill lands in band 0's fourth column, its first three checkpointed whole.
  // The worker that finishes it is set to 1024 px columns: the image keeps the 512 it was split with
  // (with 1024, band 0's first column would have trusted b0c0's checkpoint, of a column half as wide).
  const tiff = await noisy(2001, 3000, 3).tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 90 }).toBuffer();
  const done = await killMidBandAndResume('tiff', tiff, 'image/tiff', { WORKER_SPLIT_COLUMN_WIDTH: '512' }, { WORKER_SPLIT_COLUMN_WIDTH: '1024' });
  assert.equal(done.split?.columnWidth, 512, 'the column width the image was split with');
  const keys = Object.keys(done.checkpoint.parts ?? {}).filter((k) => k.startsWith('b0')).sort();
  assert.deepEqual(keys, ['b0c0', 'b0c1', 'b0c2', 'b0c3'], 'band 0 was cut as 4 columns, each with its own checkpoint');
  assert.deepEqual(Object.keys(done.split?.tiles ?? {}).filter((k) => k.startsWith('b2')).sort(), ['b2c0', 'b2c1', 'b2c2', 'b2c3']);
});
