/**
 * The whole service path against real Redis, MongoDB (FerretDB) and S3 (MinIO):
 * upload through the API -> BullMQ -> worker -> tiles in S3 -> status in MongoDB.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import { startApiServer } from '../services/api/server.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { deepZoomLevels, tileCount } from '../shared/tiling/pyramid.js';
import type { Config } from '../shared/config.js';
import { createTileQueue } from '../shared/queue.js';

async function photoLike(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 }, noise: { type: 'gaussian', mean: 120, sigma: 40 } } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** Every key an image's pyramid has in S3; a JPEG input also has its preview. */
function expectedKeys(id: string, width: number, height: number, ext: string, preview = true): string[] {
  const keys = [`images/${id}/image.dzi`, `images/${id}/thumbnail.jpg`, `images/${id}/manifest.json`, ...(preview ? [`images/${id}/preview.jpg`] : [])];
  for (const l of deepZoomLevels(width, height, 256)) {
    for (let c = 0; c < l.cols; c++) for (let r = 0; r < l.rows; r++) keys.push(`images/${id}/image_files/${l.level}/${c}_${r}.${ext}`);
  }
  return keys.sort();
}

async function uploadFile(apiUrl: string, body: Buffer, filename: string, title?: string): Promise<{ status: number; json: any }> {
  const form = new FormData();
  if (title) form.set('title', title);
  form.set('file', new Blob([body]), filename);
  const res = await fetch(`${apiUrl}/api/v1/images`, { method: 'POST', body: form });
  return { status: res.status, json: await res.json() };
}

async function waitForTerminal(apiUrl: string, id: string): Promise<any> {
  return waitFor(`image ${id} to finish`, async () => {
    const doc = await (await fetch(`${apiUrl}/api/v1/images/${id}`)).json();
    return doc.status === 'done' || doc.status === 'failed' ? doc : undefined;
  }, 120_000, 200);
}

async function listKeys(s3: S3Store, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s3.listKeys(prefix)) keys.push(o.key);
  return keys.sort();
}

describe('pipeline: API -> queue -> worker -> S3 -> MongoDB', () => {
  let config: Config;
  let api: { url: string; close(): Promise<void> };
  let worker: RunningWorker;
  let s3: S3Store;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let failEveryNthPut = 0;
  let origin: http.Server;
  const served = new Map<string, Buffer>();

  before(async () => {
    const servers = await useTestServers();
    origin = http.createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originPort = (origin.address() as AddressInfo).port;
    // The worker talks to S3 through a proxy that can fail requests on demand.
    proxy = await startFaultProxy({
      target: servers.s3.endpoint,
      shouldFail: ({ method, seq }) => (failEveryNthPut > 0 && method === 'PUT' && seq % failEveryNthPut === 0 ? 'error503' : null),
    });
    config = await testConfig(servers, 'pipeline', { FETCH_ALLOW_HOSTS: `127.0.0.1:${originPort}` });
    const workerConfig = { ...config, s3: { ...config.s3, endpoint: proxy.url } };
    s3 = new S3Store(config.s3);
    await s3.ensureBucket();
    api = await startApiServer(config);
    worker = await startWorker(workerConfig);
  });

  after(async () => {
    await worker?.close();
    await api?.close();
    await proxy?.close();
    origin?.close();
  });

  test('an uploaded JPEG becomes a complete pyramid in S3 and a done status', async () => {
    const jpeg = await photoLike(1500, 1000);
    const res = await uploadFile(api.url, jpeg, 'harbour.jpg', 'Harbour');
    assert.equal(res.status, 202);
    const id: string = res.json.id;
    const doc = await waitForTerminal(api.url, id);
    assert.equal(doc.status, 'done', JSON.stringify(doc.error));
    assert.equal(doc.stage, 'done');
    assert.equal(doc.progress, 1);
    assert.equal(doc.width, 1500);
    assert.equal(doc.height, 1000);
    assert.equal(doc.format, 'jpeg');
    assert.equal(doc.tileSize, 256);
    const levels = deepZoomLevels(1500, 1000, 256);
    assert.equal(doc.levels, levels.length);
    // 1500 px: the top level (11) is the first at least 1024 px wide, so the first view is the whole pyramid.
    assert.deepEqual(doc.tiles, { done: tileCount(levels), total: tileCount(levels), viewable: true, firstViewLevel: 11 });
    assert.equal(doc.error, null);

    assert.deepEqual(await listKeys(s3, `images/${id}/`), expectedKeys(id, 1500, 1000, 'jpeg'));
    const original = await s3.getStream(`originals/${id}`);
    const hash = createHash('sha256');
    for await (const chunk of original.stream) hash.update(chunk as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(jpeg).digest('hex'));

    // The descriptor and a top-level edge tile, as a viewer would fetch them.
    const dzi = await (await fetch(new URL(doc.links.dzi, api.url))).text();
    assert.match(dzi, /Width="1500"/);
    assert.match(dzi, /Height="1000"/);
    const top = levels[levels.length - 1]!;
    const edge = await fetch(new URL(`${doc.links.tiles}${top.level}/${top.cols - 1}_${top.rows - 1}.jpeg`, api.url));
    assert.equal(edge.status, 200);
    const meta = await sharp(Buffer.from(await edge.arrayBuffer())).metadata();
    assert.equal(meta.width, 1500 - (top.cols - 1) * 256);
    assert.equal(meta.height, 1000 - (top.rows - 1) * 256);

    // The preview: the whole image at the first-view level's size (here the image's own), close to the tiles' pixels.
    const preview = Buffer.from(await (await fetch(new URL(doc.links.preview, api.url))).arrayBuffer());
    const previewMeta = await sharp(preview).metadata();
    assert.deepEqual([previewMeta.format, previewMeta.width, previewMeta.height], ['jpeg', 1500, 1000]);
    const tile = Buffer.from(await (await fetch(new URL(`${doc.links.tiles}${top.level}/1_1.jpeg`, api.url))).arrayBuffer());
    const region = await sharp(preview).extract({ left: 256, top: 256, width: 256, height: 256 }).raw().toBuffer();
    const tilePixels = await sharp(tile).raw().toBuffer();
    let diff = 0;
    for (let i = 0; i < region.length; i++) diff += Math.abs(region[i]! - tilePixels[i]!);
    assert.ok(diff / region.length < 12, `mean difference ${diff / region.length} between the preview and the tile it lies under`);
  });

  test('a URL submission is fetched by the worker and tiled', async () => {
    const jpeg = await photoLike(600, 900);
    served.set('/photo.jpg', jpeg);
    const port = (origin.address() as AddressInfo).port;
    const res = await fetch(`${api.url}/api/v1/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/photo.jpg`, title: 'By URL' }),
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const doc = await waitForTerminal(api.url, id);
    assert.equal(doc.status, 'done', JSON.stringify(doc.error));
    assert.equal(doc.width, 600);
    assert.equal(doc.height, 900);
    assert.deepEqual(await listKeys(s3, `images/${id}/`), expectedKeys(id, 600, 900, 'jpeg'));
    assert.equal((await s3.head(`originals/${id}`))?.size, jpeg.length);
  });

  test('a truncated JPEG fails at once with its code, keeps the original and leaves no tiles', async () => {
    const jpeg = await photoLike(800, 600);
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const res = await uploadFile(api.url, truncated, 'broken.jpg');
    assert.equal(res.status, 202);
    const doc = await waitForTerminal(api.url, res.json.id);
    assert.equal(doc.status, 'failed');
    assert.equal(doc.error.code, 'HUGEMAP_ERR_CORRUPT_IMAGE');
    assert.doesNotMatch(doc.error.message, /\n|    at /);
    // Names the image, not the worker's copy of it on its own disk.
    assert.match(doc.error.message, /^the original image is damaged or truncated: /);
    assert.ok(!doc.error.message.includes(config.workDir), doc.error.message);
    assert.equal(doc.attempts, 1, 'bad input must not be retried');
    assert.deepEqual(await listKeys(s3, `images/${res.json.id}/`), []);
    assert.equal((await s3.head(`originals/${res.json.id}`))?.size, truncated.length);
  });

  test('a decompression bomb is refused from its header', async () => {
    // A valid PNG whose header claims 200000 x 100000 pixels (20 gigapixels, above the 10 GP default) but holds almost nothing.
    const small = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer();
    const bomb = Buffer.from(small);
    bomb.writeUInt32BE(200_000, 16);
    bomb.writeUInt32BE(100_000, 20);
    const res = await uploadFile(api.url, bomb, 'bomb.png');
    assert.equal(res.status, 202);
    const doc = await waitForTerminal(api.url, res.json.id);
    assert.equal(doc.status, 'failed');
    assert.equal(doc.error.code, 'HUGEMAP_ERR_TOO_MANY_PIXELS');
  });

  test('S3 errors during upload are retried and the pyramid still completes', async () => {
    failEveryNthPut = 4;
    try {
      const jpeg = await photoLike(1100, 700);
      const res = await uploadFile(api.url, jpeg, 'flaky.jpg');
      const doc = await waitForTerminal(api.url, res.json.id);
      assert.equal(doc.status, 'done', JSON.stringify(doc.error));
      assert.deepEqual(await listKeys(s3, `images/${res.json.id}/`), expectedKeys(res.json.id, 1100, 700, 'jpeg'));
      const failed = proxy.stats.requests.filter((r) => r.status === 503 && r.path.includes(res.json.id));
      assert.ok(failed.length > 0, 'the proxy should have failed some PUTs of this image');
    } finally {
      failEveryNthPut = 0;
    }
  });

  test('server-sent events carry every stage up to done, progress never going back', async () => {
    const jpeg = await photoLike(900, 900);
    // The queue is paused until the stream is open, so it sees the job from its start whatever the machine's speed.
    const queue = createTileQueue(config.redisUrl, config.queuePrefix);
    await queue.pause();
    const docs: any[] = [];
    try {
      const res = await uploadFile(api.url, jpeg, 'events.jpg');
      // A stream that never ends fails the test instead of hanging the run.
      const events = await fetch(`${api.url}/api/v1/images/${res.json.id}/events`, { signal: AbortSignal.timeout(120_000) });
      assert.equal(events.headers.get('content-type')?.split(';')[0], 'text/event-stream');
      const decoder = new TextDecoder();
      let buffered = '';
      let resumed = false;
      for await (const chunk of events.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffered.indexOf('\n\n')) >= 0) {
          const frame = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (data) docs.push(JSON.parse(data));
        }
        if (!resumed && docs.length > 0) {
          resumed = true;
          await queue.resume();
        }
        if (docs.at(-1)?.status === 'done' || docs.at(-1)?.status === 'failed') break;
      }
    } finally {
      await queue.resume();
      await queue.close();
    }
    assert.equal(docs[0]?.status, 'queued', 'the stream opened before the job started');
    assert.equal(docs.at(-1)?.status, 'done');
    const progress = docs.map((d) => d.progress as number);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress must not go backwards');
    const stages = [...new Set(docs.map((d) => d.stage as string))];
    assert.equal(stages.at(-1), 'done');
    // Viewable once the first-view tiles are in S3, and from then on.
    const viewable = docs.map((d) => d.tiles.viewable as boolean);
    assert.equal(viewable[0], false);
    assert.equal(viewable.at(-1), true);
    assert.deepEqual(viewable, [...viewable].sort((a, b) => Number(a) - Number(b)), 'viewable must not go back to false');
    // The preview (made beside the cut at this size) is linked no later than the first-view tiles are viewable, and from then on.
    const previewed = docs.map((d) => d.links.preview !== null);
    assert.equal(previewed.at(-1), true);
    assert.deepEqual(previewed, [...previewed].sort((a, b) => Number(a) - Number(b)), 'the preview link must not go away');
    assert.ok(previewed.indexOf(true) <= viewable.indexOf(true), `preview at event ${previewed.indexOf(true)}, viewable at ${viewable.indexOf(true)}`);
    // A viewer opening on the preview builds tile URLs from the format: it is there from then on.
    assert.deepEqual(docs.filter((d) => d.links.preview !== null).map((d) => d.format), docs.filter((d) => d.links.preview !== null).map(() => 'jpeg'));
  });

  test('the same bytes uploaded again after a DELETE are tiled again', async () => {
    const jpeg = await photoLike(700, 500);
    const first = await uploadFile(api.url, jpeg, 'again.jpg');
    assert.equal((await waitForTerminal(api.url, first.json.id)).status, 'done');
    assert.equal((await fetch(`${api.url}/api/v1/images/${first.json.id}`, { method: 'DELETE' })).status, 204);
    const second = await uploadFile(api.url, jpeg, 'again.jpg');
    assert.equal(second.json.id, first.json.id, 'content ids repeat');
    const doc = await waitForTerminal(api.url, second.json.id);
    assert.equal(doc.status, 'done');
    assert.deepEqual(await listKeys(s3, `images/${doc.id}/`), expectedKeys(doc.id, 700, 500, 'jpeg'));
  });
});
