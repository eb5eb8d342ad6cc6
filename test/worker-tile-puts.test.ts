/**
 * WORKER_TILE_PUTS: validated once in the config, and what a job's tile upload keeps in flight.
 * Against the real servers, through a proxy in front of the S3 server that holds every tile PUT
 * unanswered: the PUTs that reach it are the ones in flight, and none is answered, so none frees
 * a place for another.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { after, test } from 'node:test';
import { newImageDoc } from '../shared/image-status.js';
import { createLogger } from '../shared/logger.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { deepZoomLevels, tileCount } from '../shared/tiling/pyramid.js';
import { probeImage } from '../shared/tiling/probe.js';
import { jobPaths, ThrottledReporter, type JobContext } from '../workers/job-context.js';
import { tileOriginal } from '../workers/stages/tile.js';
import { startWorker } from '../workers/start-worker.js';
import { createTileQueue, enqueueTileJob } from '../shared/queue.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { gradient, tempDir } from './helpers/fixtures.js';
import { useTestServers } from './helpers/servers.js';
import { testConfig, waitFor } from './helpers/test-config.js';

const servers = await useTestServers();
const tmp = await tempDir('hugemap-worker-tile-puts-');
const proxies: FaultProxy[] = [];

/** A proxy to the S3 server that holds every tile PUT until released; `held()` counts those that reached it. */
async function holdingProxy(): Promise<{ proxy: FaultProxy; held: () => number }> {
  let held = 0;
  const proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    hold: ({ method, path }) => {
      const tile = method === 'PUT' && path.includes('/image_files/');
      if (tile) held++;
      return tile;
    },
  });
  proxies.push(proxy);
  return { proxy, held: () => held };
}

/** Waits (bounded) until `want` tile PUTs are held at the proxy; returns how many are, then. */
async function heldReach(held: () => number, want: number): Promise<number> {
  await waitFor(`${want} held tile PUTs`, async () => (held() >= want ? true : undefined), 60_000, 20).catch(() => undefined);
  return held();
}

/** Whether a file named `name` exists anywhere under `dir`. */
async function existsUnder(dir: string, name: string): Promise<boolean> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.some((e) => e.isFile() && e.name === name);
}

after(async () => {
  for (const p of proxies) {
    p.release();
    await p.close();
  }
  await tmp.remove();
});

test('WORKER_TILE_PUTS: 64 by default, a whole number from 1 to 256', async () => {
  assert.equal((await testConfig(servers, 'tile-puts-default')).workerTilePuts, 64);
  for (const bad of ['0', '257', '2.5', 'many']) {
    await assert.rejects(testConfig(servers, 'tile-puts-bad', { WORKER_TILE_PUTS: bad }), /WORKER_TILE_PUTS/, bad);
  }
});

test('a job keeps WORKER_TILE_PUTS tile PUTs in flight, no more, and stores every tile once they are answered', async () => {
  const { proxy, held } = await holdingProxy();
  const config = await testConfig(servers, 'tile-puts', { S3_ENDPOINT: proxy.url, WORKER_TILE_PUTS: '3' });
  const s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  // Counted in this process as the uploader starts them: what it tried to send, whether or not it reached the proxy yet.
  let started = 0;
  let finished = 0;
  let peak = 0;
  const put = s3.putSmallObject.bind(s3);
  s3.putSmallObject = async (...args: Parameters<S3Store['putSmallObject']>) => {
    started++;
    peak = Math.max(peak, started - finished);
    try {
      return await put(...args);
    } finally {
      finished++;
    }
  };
  const store = await StatusStore.connect(config.mongoUrl);
  const source = tmp.file('photo.jpg');
  await gradient(2000, 1500).jpeg().toFile(source);
  const id = `tile-puts-${Math.random().toString(36).slice(2, 8)}`;
  const doc = newImageDoc(id, { kind: 'upload', filename: 'photo.jpg' }, null);
  await store.create(doc);
  const paths = jobPaths(config.workDir, id);
  await mkdir(paths.dir, { recursive: true });
  await copyFile(source, paths.originalPath);
  const ctx: JobContext = {
    config,
    store,
    s3,
    logger: createLogger('worker-tile-puts-test', 'silent'),
    id,
    doc,
    ...paths,
    report: new ThrottledReporter(async (set) => store.update(id, set)),
  };
  const tiling = tileOriginal(ctx, await probeImage(source, { maxPixels: config.maxPixels }));
  // The tiler writes manifest.json just before it waits for the upload to drain: by then every row has been
  // handed to the uploader, so with none of its PUTs answered it has started all it ever will.
  const cut = await waitFor('the cut to end (manifest.json in the staging folder)', async () => ((await existsUnder(paths.outDir, 'manifest.json')) ? true : undefined), 120_000, 20).catch(() => false);
  const inFlight = await heldReach(held, 3);
  const startedWhileHeld = started;
  proxy.release();
  await tiling;
  assert.equal(cut, true, 'the cut ended while the PUTs were held');
  assert.equal(startedWhileHeld, 3, 'tile PUTs started while none is answered');
  assert.equal(inFlight, 3, 'tile PUTs that reached S3 while none is answered');
  assert.equal(peak, 3, 'never more than 3 in flight, after the release too');
  const keys: string[] = [];
  for await (const o of s3.listKeys(`images/${id}/image_files/`)) keys.push(o.key);
  assert.equal(keys.length, tileCount(deepZoomLevels(2000, 1500, 256)));
  s3.close();
  await store.close();
});

test('a worker opens a socket for each of its tile PUTs, also past 32 (the store default)', async () => {
  const { proxy, held } = await holdingProxy();
  const config = await testConfig(servers, 'tile-puts-worker', { S3_ENDPOINT: proxy.url, WORKER_TILE_PUTS: '40' });
  const s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  const store = await StatusStore.connect(config.mongoUrl);
  const worker = await startWorker(config, createLogger('worker-tile-puts-test', 'silent'));
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  try {
    // 4000x3000: two rows of each level hold 69 tiles, more than 40 for the first window.
    const id = `tile-puts-w-${Math.random().toString(36).slice(2, 8)}`;
    await s3.putBody(`originals/${id}`, await gradient(4000, 3000).jpeg().toBuffer(), { contentType: 'image/jpeg' });
    await store.create(newImageDoc(id, { kind: 'upload', filename: 'big.jpg' }, null));
    await enqueueTileJob(queue, id);
    // Released before asserting, so that a failure still lets the job finish and everything close.
    // How many may be in flight at most is the test above's; this one needs the sockets past 32 to open.
    const inFlight = await heldReach(held, 40);
    proxy.release();
    const done = await waitFor('job done', async () => {
      const doc = await store.get(id);
      return doc?.status === 'done' || doc?.status === 'failed' ? doc : undefined;
    }, 120_000);
    assert.equal(inFlight, 40, 'tile PUTs in flight while none is answered');
    assert.equal(done.status, 'done', JSON.stringify(done.error));
  } finally {
    await queue.close();
    await worker.close();
    await store.close();
    s3.close();
  }
});
