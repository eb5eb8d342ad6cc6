/**
 * Serving side of the API against real servers: the tile origin (CORS, immutable
 * caching, ETag/304, no path traversal), the live event stream, health and
 * readiness, 500s without internals, and the production server's start/close.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { newImageDoc } from '../shared/image-status.js';
import { Queue } from 'bullmq';
import { TILE_QUEUE, type TileJobData } from '../shared/queue.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { startApiServer } from '../services/api/server.js';
import { useTestServers } from './helpers/servers.js';
import { waitFor } from './helpers/test-config.js';
import { assertNoStack, closedPort, startTestApi, type TestApi } from './helpers/api-harness.js';

let api: TestApi;
let jpeg: Buffer;

// Registered before useTestServers() so our clients close before the servers stop.
after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3a7' } }).jpeg().toBuffer();
  api = await startTestApi(servers, 'api-serve');
});


const get = (path: string, headers: Record<string, string> = {}, signal?: AbortSignal) => fetch(`${api.base}${path}`, { headers, signal: signal ?? null });

describe('tiles origin', () => {
  const id = 'TileOrigin_01234';
  /** /tiles asks the status document who may read the image: a public one here (upsert: each test may run alone). */
  const ensureImage = () => api.store.images.updateOne({ _id: id }, { $setOnInsert: newImageDoc(id, { kind: 'upload' }, null) }, { upsert: true });

  test('serves a stored tile with CORS, immutable caching, ETag and 304 on If-None-Match', async () => {
    await ensureImage();
    await api.s3.putBody(`images/${id}/image_files/9/1_2.jpeg`, jpeg, { contentType: 'image/jpeg' });
    const res = await get(`/tiles/${id}/image_files/9/1_2.jpeg`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal(res.headers.get('content-type'), 'image/jpeg');
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const etag = res.headers.get('etag');
    assert.match(etag ?? '', /^"[^"]+"$/);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(body).digest('hex'), createHash('sha256').update(jpeg).digest('hex'));

    const again = await get(`/tiles/${id}/image_files/9/1_2.jpeg`, { 'if-none-match': etag! });
    assert.equal(again.status, 304);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    const changed = await get(`/tiles/${id}/image_files/9/1_2.jpeg`, { 'if-none-match': '"something-else"' });
    assert.equal(changed.status, 200);
    assert.equal(Buffer.from(await changed.arrayBuffer()).length, jpeg.length);
  });

  test('descriptor, thumbnail and preview keep their stored content types', async () => {
    await ensureImage();
    const dzi = '<?xml version="1.0"?><Image TileSize="256" Overlap="1" Format="jpeg" xmlns="http://schemas.microsoft.com/deepzoom/2008"><Size Width="32" Height="32"/></Image>';
    await api.s3.putBody(`images/${id}/image.dzi`, dzi, { contentType: 'application/xml' });
    await api.s3.putBody(`images/${id}/thumbnail.jpg`, jpeg, { contentType: 'image/jpeg' });
    const d = await get(`/tiles/${id}/image.dzi`);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-type'), 'application/xml');
    assert.equal(await d.text(), dzi);
    const t = await get(`/tiles/${id}/thumbnail.jpg`);
    assert.equal(t.headers.get('content-type'), 'image/jpeg');
    assert.equal(Buffer.from(await t.arrayBuffer()).length, jpeg.length);
    assert.equal((await get(`/tiles/${id}/preview.jpg`)).status, 404, 'no preview stored yet');
    await api.s3.putBody(`images/${id}/preview.jpg`, jpeg, { contentType: 'image/jpeg' });
    const p = await get(`/tiles/${id}/preview.jpg`);
    assert.equal(p.status, 200);
    assert.equal(p.headers.get('content-type'), 'image/jpeg');
    assert.equal(createHash('sha256').update(Buffer.from(await p.arrayBuffer())).digest('hex'), createHash('sha256').update(jpeg).digest('hex'));
  });

  test('missing objects are 404 JSON; traversal and odd names never reach another key', async () => {
    const secret = 'SecretOrig_01234';
    await api.s3.putBody(`originals/${secret}`, 'PRIVATE-ORIGINAL-BYTES', { contentType: 'image/jpeg' });
    const missing = await get(`/tiles/${id}/image_files/9/7_7.jpeg`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'HUGEMAP_ERR_NOT_FOUND');
    const attempts = [
      `/tiles/x/..%2F..%2Foriginals%2F${secret}`,
      `/tiles/${id}/..%2F..%2Foriginals%2F${secret}`,
      `/tiles/${id}/image_files/..%2F..%2F..%2Foriginals/${secret}`,
      `/tiles/${id}/image_files/9/..%2F..%2F..%2F..%2Foriginals%2F${secret}`,
      `/tiles/..%2Foriginals%2F${secret}/image.dzi`,
      `/tiles/${id}/image_files/9/1_2.jpeg%00.txt`,
    ];
    for (const path of attempts) {
      const res = await get(path);
      const text = await res.text();
      assert.ok(res.status === 404 || res.status === 400, `${path}: ${res.status}`);
      assert.ok(!text.includes('PRIVATE-ORIGINAL-BYTES'), path);
      assertNoStack(text);
    }
  });
});

interface Frame {
  data: { id: string; status: string; progress: number };
}

/** Reads server-sent events frame by frame (frames end with a blank line; comments are skipped). */
function sseReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(): Promise<Frame | null> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = raw.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) return { data: JSON.parse(data) as Frame['data'] };
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
  };
}

describe('event stream', () => {
  test('sends the current status, then each change, and ends after a terminal status', { timeout: 60_000 }, async () => {
    const id = 'EventStream_0123';
    await api.store.create(newImageDoc(id, { kind: 'upload' }, 'live'));
    const res = await get(`/api/v1/images/${id}/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const frames = sseReader(res.body!);

    const first = await frames.next();
    assert.equal(first?.data.id, id);
    assert.equal(first?.data.status, 'queued');

    await api.store.update(id, { status: 'processing', stage: 'tile', progress: 0.5 });
    const second = await frames.next();
    assert.equal(second?.data.status, 'processing');
    assert.equal(second?.data.progress, 0.5);

    await api.store.update(id, { status: 'done', stage: 'done', progress: 1 });
    const third = await frames.next();
    assert.equal(third?.data.status, 'done');
    assert.equal(await frames.next(), null, 'stream ends after the terminal status');
  });

  test('a client that goes away is unsubscribed from Redis', { timeout: 60_000 }, async () => {
    const id = 'EventsLeave_0123';
    await api.store.create(newImageDoc(id, { kind: 'upload' }, null));
    const channel = `${api.config.queuePrefix}:status:${id}`;
    const redis = new Redis(api.config.redisUrl);
    const subscribers = async () => Number(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]);
    try {
      const leaving = new AbortController();
      const res = await get(`/api/v1/images/${id}/events`, {}, leaving.signal);
      assert.equal((await sseReader(res.body!).next())?.data.id, id);
      assert.equal(await subscribers(), 1);
      leaving.abort();
      await waitFor('the subscription to end', async () => ((await subscribers()) === 0 ? true : undefined));
    } finally {
      redis.disconnect();
    }
  });

  test('unknown image: 404 JSON, malformed id: 400', async () => {
    assert.equal((await get('/api/v1/images/AAAAAAAAAAAAAAAA/events')).status, 404);
    assert.equal((await get('/api/v1/images/bad/events')).status, 400);
  });
});

describe('health and readiness', () => {
  test('healthz 200; readyz 200 with every server up', async () => {
    assert.deepEqual(await (await get('/healthz')).json(), { ok: true });
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, checks: { redis: 'ok', mongodb: 'ok', s3: 'ok' } });
  });

  test('readyz 503 naming S3, and uploads 503, when S3 points at a closed port', async () => {
    const deadS3 = new S3Store({ ...api.config.s3, endpoint: `http://127.0.0.1:${await closedPort()}` }, { maxAttempts: 1 });
    const broken = await startTestApi(servers, 'api-serve-dead-s3', {}, { s3: deadS3 });
    try {
      const res = await fetch(`${broken.base}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { ok: boolean; checks: Record<string, string> };
      assert.equal(body.ok, false);
      assert.equal(body.checks.redis, 'ok');
      assert.equal(body.checks.mongodb, 'ok');
      assert.match(body.checks.s3 ?? '', /^failed: /);

      // An upload cannot be stored: 503 with a stable code, no internals, no document.
      const fd = new FormData();
      fd.append('file', new Blob([new Uint8Array(jpeg)]), 'a.jpg');
      const upload = await fetch(`${broken.base}/api/v1/images`, { method: 'POST', body: fd });
      assert.equal(upload.status, 503);
      const text = await upload.text();
      assertNoStack(text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'HUGEMAP_ERR_STORAGE');
      assert.ok(!text.includes('127.0.0.1'), text);
      assert.equal(await broken.store.images.countDocuments(), 0);
    } finally {
      await broken.close();
    }
  });

  test('readyz 503 naming Redis when the queue\'s Redis does not answer; the others still ok', { timeout: 60_000 }, async () => {
    // Our own connection (which retries, as the API's does), so that we can stop it retrying at the end.
    const connection = new Redis(`redis://127.0.0.1:${await closedPort()}`, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined); // connection refused, again and again: expected here
    const deadRedis = new Queue<TileJobData>(TILE_QUEUE, { connection, prefix: 'dead-redis' });
    deadRedis.on('error', () => undefined);
    const broken = await startTestApi(servers, 'api-serve-dead-redis', {}, { queue: deadRedis });
    try {
      const res = await fetch(`${broken.base}/readyz`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as { ok: boolean; checks: Record<string, string>; error: { code: string; message: string } };
      assert.equal(body.ok, false);
      assert.deepEqual({ mongodb: body.checks.mongodb, s3: body.checks.s3 }, { mongodb: 'ok', s3: 'ok' });
      assert.match(body.checks.redis ?? '', /^failed: /);
      assert.deepEqual(body.error, { code: 'HUGEMAP_ERR_NOT_READY', message: 'not ready: redis did not answer' });
      assert.equal(res.headers.get('cache-control'), 'no-store');
    } finally {
      await broken.close();
      connection.disconnect();
    }
  });

  test('readyz 503 naming MongoDB when the database is gone; the others still ok', async () => {
    const closedStore = await StatusStore.connect(api.config.mongoUrl);
    await closedStore.close();
    const broken = await startTestApi(servers, 'api-serve-dead-mongo', {}, { store: closedStore });
    try {
      const res = await fetch(`${broken.base}/readyz`);
      assert.equal(res.status, 503);
      const text = await res.text();
      assertNoStack(text);
      const body = JSON.parse(text) as { ok: boolean; checks: Record<string, string>; error: { code: string; message: string } };
      assert.equal(body.ok, false);
      assert.deepEqual({ redis: body.checks.redis, s3: body.checks.s3 }, { redis: 'ok', s3: 'ok' });
      assert.match(body.checks.mongodb ?? '', /^failed: /);
      assert.deepEqual(body.error, { code: 'HUGEMAP_ERR_NOT_READY', message: 'not ready: mongodb did not answer' });
    } finally {
      await broken.close();
    }
  });

  test('an unexpected failure is a bare 500 with no internals', async () => {
    const closedStore = await StatusStore.connect(api.config.mongoUrl);
    await closedStore.close();
    const broken = await startTestApi(servers, 'api-serve-500', {}, { store: closedStore });
    try {
      const res = await fetch(`${broken.base}/api/v1/images/AAAAAAAAAAAAAAAA`);
      assert.equal(res.status, 500);
      const text = await res.text();
      assertNoStack(text);
      assert.deepEqual(JSON.parse(text), { error: { code: 'HUGEMAP_ERR_INTERNAL', message: 'internal error' } });
    } finally {
      await broken.close();
    }
  });
});

describe('startApiServer', () => {
  test('listens, answers, and closes with an open event stream', { timeout: 60_000 }, async () => {
    const server = await startApiServer({ ...api.config, logLevel: 'silent' });
    const id = 'ServerClose_0123';
    await api.store.create(newImageDoc(id, { kind: 'upload' }, null));
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { ok: true });
    const stream = await fetch(`${server.url}/api/v1/images/${id}/events`);
    const frames = sseReader(stream.body!);
    assert.equal((await frames.next())?.data.id, id);
    await server.close();
    assert.equal(await frames.next(), null, 'close() ends open event streams');
    await assert.rejects(fetch(`${server.url}/healthz`));
  });

  test('close() lets an upload in flight finish before it resolves', { timeout: 60_000 }, async () => {
    const server = await startApiServer({ ...api.config, logLevel: 'silent', shutdownTimeoutMs: 30_000 });
    const boundary = 'hugemap-inflight';
    const req = http.request(`${server.url}/api/v1/images`, {
      method: 'POST',
      // The 100 Continue proves the server has parsed the request before we close it.
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked', expect: '100-continue' },
    });
    const continued = new Promise<void>((resolve) => req.once('continue', () => resolve()));
    req.flushHeaders();
    const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', async (res) => {
        const chunks: Buffer[] = [];
        for await (const c of res) chunks.push(c as Buffer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
      req.on('error', reject);
    });
    await continued;
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n`);
    req.write(jpeg.subarray(0, 100));
    const order: string[] = [];
    void answered.then(() => order.push('upload answered'), () => undefined);
    const closing = server.close().then(() => {
      order.push('close resolved');
    });
    req.end(Buffer.concat([jpeg.subarray(100), Buffer.from(`\r\n--${boundary}--\r\n`)]));
    const { status, body } = await answered;
    assert.equal(status, 202, body);
    const { id } = JSON.parse(body) as { id: string };
    await closing;
    assert.deepEqual(order, ['upload answered', 'close resolved']);
    assert.equal((await api.store.get(id))?.status, 'queued');
  });
});
