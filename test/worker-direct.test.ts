/**
 * A worker configured with TILE_JPEG_ENCODER=direct, against the real servers:
 * the pyramid in S3 is complete, its tiles decode to the same pixels as
 * `hugemap tile` with the sharp encoder and are as small (Huffman-optimised),
 * and the checkpoint names the direct encoder (a resumed job must not trust
 * rows cut by the other one).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { startApiServer } from '../services/api/server.js';
import type { Config } from '../shared/config.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { tilerId } from '../shared/tiling/encoders.js';
import { deepZoomLevels, tileCount, tileImage } from '../shared/tiling/index.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { gradient, tempDir } from './helpers/fixtures.js';
import { useTestServers } from './helpers/servers.js';
import { testConfig, waitFor } from './helpers/test-config.js';

let config: Config;
let api: { url: string; close(): Promise<void> };
let worker: RunningWorker;
let s3: S3Store;
let store: StatusStore;
const tmp = await tempDir('hugemap-worker-direct-');

before(async () => {
  const servers = await useTestServers();
  config = await testConfig(servers, 'direct', { TILE_JPEG_ENCODER: 'direct', WORKER_VIPS_THREADS: '7' });
  assert.equal(config.tileJpegEncoder, 'direct');
  s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  store = await StatusStore.connect(config.mongoUrl);
  api = await startApiServer(config);
  worker = await startWorker(config);
});

test('WORKER_VIPS_THREADS: 1 by default, validated, and given to libvips by startWorker before the first job', async () => {
  const servers = await useTestServers();
  assert.equal((await testConfig(servers, 'direct-threads')).workerVipsThreads, 1);
  await assert.rejects(testConfig(servers, 'direct-threads', { WORKER_VIPS_THREADS: '0' }), /WORKER_VIPS_THREADS/);
  await assert.rejects(testConfig(servers, 'direct-threads', { WORKER_VIPS_THREADS: 'two' }), /WORKER_VIPS_THREADS/);
  // sharp's own default is the core count (or VIPS_CONCURRENCY); 5, an unusual count, is what this worker is given.
  const before = sharp.concurrency();
  sharp.concurrency(2);
  const own = await startWorker(await testConfig(servers, 'direct-threads', { WORKER_VIPS_THREADS: '5' }));
  try {
    assert.equal(sharp.concurrency(), 5);
  } finally {
    await own.close();
    sharp.concurrency(before);
  }
});

after(async () => {
  await worker?.close();
  await api?.close();
  await store?.close();
  await tmp.remove();
});

test('an upload is tiled in direct mode: complete in S3, same pixels, checkpoint names the encoder', async () => {
  const source = tmp.file('photo.jpg');
  await gradient(1300, 900).jpeg({ quality: 90 }).toFile(source);
  const form = new FormData();
  form.set('file', new Blob([await readFile(source)]), 'photo.jpg');
  const res = await fetch(`${api.url}/api/v1/images`, { method: 'POST', body: form });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const doc = await waitFor('done', async () => {
    const d = (await (await fetch(`${api.url}/api/v1/images/${id}`)).json()) as { status: string; error: unknown };
    return d.status === 'done' || d.status === 'failed' ? d : undefined;
  }, 120_000, 200);
  assert.equal(doc.status, 'done', JSON.stringify(doc.error));

  const levels = deepZoomLevels(1300, 900, 256);
  const keys: string[] = [];
  for await (const o of s3.listKeys(`images/${id}/image_files/`)) keys.push(o.key);
  assert.equal(keys.length, tileCount(levels));

  const reference = await tileImage(source, tmp.file('reference'), { jpegEncoder: 'sharp' });
  let stored = 0;
  for (const key of keys) {
    const got = await s3.getStream(key);
    const chunks: Buffer[] = [];
    for await (const c of got.stream) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    stored += bytes.length;
    const rel = key.slice(`images/${id}/`.length);
    assert.deepEqual(await sharp(bytes).raw().toBuffer(), await sharp(tmp.file(`reference/${rel}`)).raw().toBuffer(), rel);
  }
  // dzsave's direct mode alone writes ~15-20% more; the Huffman pass brings it to the sharp encoder's size.
  assert.ok(Math.abs(stored - reference.bytes) < reference.bytes * 0.02, `direct tiles ${stored} bytes vs sharp ${reference.bytes}`);

  const status = await store.get(id);
  assert.equal(status?.checkpoint.tileRows?.tiler, tilerId('jpeg', 85, 'direct'));
});
