/**
 * Prometheus metrics against real servers: one image through the API and a worker,
 * then what each process's metrics listener says about it, and that the public
 * port has no /metrics. Also the worker's /healthz following its Redis link, and
 * the request id of the upload in the worker's log lines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import { scrape, samplesOf, valueOf } from './helpers/prometheus-text.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { noisy } from './helpers/split-fixtures.js';
import { startApiServer, type ApiServer } from '../services/api/server.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { jobKind } from '../workers/metrics.js';
import { StatusStore } from '../shared/status-store.js';
import { QUEUE_STATES } from '../services/api/metrics.js';

async function photo(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 }, noise: { type: 'gaussian', mean: 120, sigma: 40 } } })
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(lines: Array<Record<string, unknown>>) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

async function uploadWithRequestId(apiUrl: string, body: Buffer, reqId: string): Promise<{ status: number; json: any }> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(body)]), 'photo.jpg');
  const res = await fetch(`${apiUrl}/api/v1/images`, { method: 'POST', body: form, headers: { 'X-Request-Id': reqId } });
  return { status: res.status, json: await res.json() };
}

describe('metrics after one image through the API and a worker', () => {
  let api: ApiServer;
  let worker: RunningWorker;
  let store: StatusStore;
  const workerLog: Array<Record<string, unknown>> = [];
  const reqId = `metrics-test-${Date.now()}`;
  let imageId: string;

  before(async () => {
    const servers = await useTestServers();
    const config = await testConfig(servers, 'metrics', { METRICS_PORT: '0', WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info' });
    api = await startApiServer(config, { logger: pino({ level: 'silent' }) });
    worker = await startWorker(config, capturingLogger(workerLog));
    store = await StatusStore.connect(config.mongoUrl);
    const up = await uploadWithRequestId(api.url, await photo(1500, 1000), reqId);
    assert.equal(up.status, 202, JSON.stringify(up.json));
    imageId = up.json.id;
    await waitFor('the image to be done', async () => {
      const doc = await store.get(imageId);
      if (doc?.status === 'failed') throw new Error(`failed: ${JSON.stringify(doc.error)}`);
      return doc?.status === 'done' ? doc : undefined;
    }, 120_000);
    // BullMQ emits 'completed' after the job's return, a moment after the status says done.
    await waitFor('the job to be counted', async () => {
      const s = await scrape(worker.metricsUrl!);
      return samplesOf(s, 'hugemap_jobs_total', { result: 'done' }).length === 1 ? true : undefined;
    }, 30_000);
  });

  after(async () => {
    await worker?.close();
    await api?.close();
    await store?.close();
  });

  test('both processes have a metrics listener of their own, apart from the public port', () => {
    assert.ok(api.metricsUrl, 'api metrics url');
    assert.ok(worker.metricsUrl, 'worker metrics url');
    assert.notEqual(new URL(api.metricsUrl).port, new URL(api.url).port);
  });

  test('the public port answers 404 for /metrics', async () => {
    const res = await fetch(`${api.url}/metrics`);
    assert.equal(res.status, 404);
    assert.doesNotMatch(await res.text(), /hugemap_http_request_duration_seconds/);
  });

  test("the worker's tile counter equals the image's tiles.total in MongoDB", async () => {
    const doc = await store.get(imageId);
    assert.ok(doc?.tiles.total && doc.tiles.total > 10, `tiles.total ${doc?.tiles.total}`);
    const s = await scrape(worker.metricsUrl!);
    assert.equal(valueOf(s, 'hugemap_tiles_uploaded_total'), doc.tiles.total);
    assert.ok(valueOf(s, 'hugemap_bytes_uploaded_total') > doc.tiles.total * 100, 'tile bytes counted');
    assert.equal(valueOf(s, 'hugemap_pixels_tiled_total'), 1500 * 1000);
  });

  test('the worker counts the job as done and times its stages', async () => {
    const s = await scrape(worker.metricsUrl!);
    assert.equal(valueOf(s, 'hugemap_jobs_total', { result: 'done' }), 1);
    assert.equal(valueOf(s, 'hugemap_jobs_total', { result: 'done', kind: 'tile' }), 1, 'a whole image\'s job');
    assert.equal(samplesOf(s, 'hugemap_jobs_total', { result: 'failed' }).length, 0);
    assert.equal(valueOf(s, 'hugemap_job_duration_seconds_count', { result: 'done', kind: 'tile' }), 1);
    for (const stage of ['fetch', 'probe', 'tile', 'finish']) {
      assert.equal(valueOf(s, 'hugemap_job_stage_duration_seconds_count', { stage }), 1, `stage ${stage}`);
    }
    const tileBuckets = samplesOf(s, 'hugemap_job_stage_duration_seconds_bucket', { stage: 'tile' });
    assert.ok(tileBuckets.length > 5, 'tile stage histogram buckets');
    assert.equal(valueOf(s, 'hugemap_job_stage_duration_seconds_bucket', { stage: 'tile', le: '+Inf' }), 1);
    assert.equal(valueOf(s, 'hugemap_job_active'), 0);
    assert.ok(valueOf(s, 'process_resident_memory_bytes') > 10e6);
  });

  test('the worker answers /healthz with 200 while connected', async () => {
    const res = await fetch(`${worker.metricsUrl}/healthz`);
    assert.equal(res.status, 200);
  });

  test('the API has the request histogram by route pattern, never a raw id', async () => {
    assert.equal((await fetch(`${api.url}/api/v1/images/${imageId}`)).status, 200);
    assert.equal((await fetch(`${api.url}/api/v1/images/${imageId}/annotations`)).status, 200);
    assert.equal((await fetch(`${api.url}/no/such/page/${imageId}`)).status, 404);
    const s = await scrape(api.metricsUrl!);
    const count = (labels: Record<string, string>) => valueOf(s, 'hugemap_http_request_duration_seconds_count', labels);
    assert.equal(count({ method: 'POST', route: '/api/v1/images', status: '202' }), 1);
    assert.ok(count({ method: 'GET', route: '/api/v1/images/:id', status: '200' }) >= 1);
    assert.equal(count({ method: 'GET', route: '/api/v1/images/:id/annotations', status: '200' }), 1);
    assert.ok(count({ method: 'GET', route: 'unmatched', status: '404' }) >= 1);
    for (const sample of s) {
      for (const value of Object.values(sample.labels)) assert.ok(!value.includes(imageId), `raw id in ${sample.name}${JSON.stringify(sample.labels)}`);
    }
    assert.equal(valueOf(s, 'hugemap_uploads_total', { result: 'accepted' }), 1);
    assert.ok(valueOf(s, 'hugemap_upload_bytes_total') > 1000);
  });

  test('the API reads the queue gauge from BullMQ, one series per state', async () => {
    const s = await scrape(api.metricsUrl!);
    for (const state of QUEUE_STATES) assert.equal(samplesOf(s, 'hugemap_queue_jobs', { state }).length, 1, state);
    assert.equal(valueOf(s, 'hugemap_queue_jobs', { state: 'completed' }), 1);
    assert.equal(valueOf(s, 'hugemap_queue_jobs', { state: 'waiting' }), 0);
    assert.ok(valueOf(s, 'process_resident_memory_bytes') > 10e6);
    assert.ok(samplesOf(s, 'nodejs_heap_size_used_bytes').length === 1);
  });

  test("the upload's request id is on every worker log line about the image", () => {
    const about = workerLog.filter((l) => l.imageId === imageId || l.id === imageId || l.jobId === imageId);
    const messages = about.map((l) => l.msg);
    for (const msg of ['job started', 'tiles cut and stored', 'job finished', 'job completed']) assert.ok(messages.includes(msg), `${msg} in ${messages.join(', ')}`);
    for (const line of about) assert.equal(line.reqId, reqId, `reqId on "${String(line.msg)}"`);
  });
});

/** A TCP pass-through to Redis that can be cut (every connection dropped, new ones refused) and restored. */
async function cuttableTcpProxy(target: URL): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) return void client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("a worker's /healthz follows its Redis connection", () => {
  test('200 while connected, 503 while Redis is unreachable, 200 again after', async () => {
    const servers = await useTestServers();
    const proxy = await cuttableTcpProxy(new URL(servers.redisUrl));
    const config = await testConfig(servers, 'healthz', { WORKER_METRICS_PORT: '0', REDIS_URL: `redis://127.0.0.1:${proxy.port}`, LOG_LEVEL: 'silent' });
    const worker = await startWorker(config);
    try {
      const health = async () => (await fetch(`${worker.metricsUrl}/healthz`)).status;
      assert.equal(await health(), 200);
      proxy.cut();
      await waitFor('/healthz to answer 503', async () => ((await health()) === 503 ? true : undefined), 30_000);
      proxy.restore();
      await waitFor('/healthz to answer 200 again', async () => ((await health()) === 200 ? true : undefined), 60_000);
    } finally {
      proxy.restore();
      await worker.close();
      await proxy.close();
    }
  });
});

describe("a split image's parts in the worker's metrics", () => {
  test('every tile the bands and the assembling job store is counted, and each job under its kind', async () => {
    const servers = await useTestServers();
    const config = await testConfig(servers, 'metrics-split', { WORKER_METRICS_PORT: '0', WORKER_SPLIT_PIXELS: '600000', LOG_LEVEL: 'silent' });
    const api = await startApiServer(config, { logger: pino({ level: 'silent' }) });
    const worker = await startWorker(config);
    const store = await StatusStore.connect(config.mongoUrl);
    try {
      const up = await uploadWithRequestId(api.url, await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toBuffer(), `metrics-split-${Date.now()}`);
      assert.equal(up.status, 202);
      const doc = await waitFor('the image to be done', async () => {
        const d = await store.get(up.json.id);
        if (d?.status === 'failed') throw new Error(`failed: ${JSON.stringify(d.error)}`);
        return d?.status === 'done' ? d : undefined;
      }, 120_000);
      const bands = doc.parts!.total;
      assert.ok(bands >= 2, 'split');
      // BullMQ emits 'completed' a moment after the status says done.
      const s = await waitFor('the assembling job to be counted', async () => {
        const now = await scrape(worker.metricsUrl!);
        return samplesOf(now, 'hugemap_jobs_total', { kind: 'assemble', result: 'done' }).length === 1 ? now : undefined;
      }, 30_000);
      assert.equal(valueOf(s, 'hugemap_tiles_uploaded_total'), doc.tiles.total, 'the parts\' tiles, each once');
      assert.equal(valueOf(s, 'hugemap_jobs_total', { kind: 'tile', result: 'done' }), 1);
      assert.equal(valueOf(s, 'hugemap_jobs_total', { kind: 'band', result: 'done' }), bands);
      assert.equal(valueOf(s, 'hugemap_jobs_total', { kind: 'assemble', result: 'done' }), 1);
    } finally {
      await worker.close();
      await api.close();
      await store.close();
    }
  });
});

describe('S3 request errors are counted by operation', () => {
  test('tile PUTs answered 503 show up as hugemap_s3_request_errors_total{op="PutObject"}', async () => {
    const servers = await useTestServers();
    let failed = 0;
    const proxy = await startFaultProxy({
      target: servers.s3.endpoint,
      // The first three tile PUTs fail once each; retries succeed.
      shouldFail: ({ method, path, n }) => (method === 'PUT' && path.includes('/image_files/') && n === 1 && failed < 3 ? (failed++, 'error503') : null),
    });
    const config = await testConfig(servers, 's3errors', { WORKER_METRICS_PORT: '0', LOG_LEVEL: 'silent' });
    const api = await startApiServer(config, { logger: pino({ level: 'silent' }) });
    const worker = await startWorker({ ...config, s3: { ...config.s3, endpoint: proxy.url } });
    const store = await StatusStore.connect(config.mongoUrl);
    try {
      const up = await uploadWithRequestId(api.url, await photo(800, 600), `s3-errors-${Date.now()}`);
      assert.equal(up.status, 202);
      await waitFor('the image to be done', async () => ((await store.get(up.json.id))?.status === 'done' ? true : undefined), 120_000);
      const s = await scrape(worker.metricsUrl!);
      assert.equal(failed, 3);
      assert.equal(valueOf(s, 'hugemap_s3_request_errors_total', { op: 'PutObject' }), 3);
    } finally {
      await worker.close();
      await api.close();
      await store.close();
      await proxy.close();
    }
  });
});

test('a job\'s kind, as its metrics name it: the parts of a split image apart from whole images', () => {
  assert.equal(jobKind({}), 'tile');
  assert.equal(jobKind(undefined), 'tile', 'a failed event without its job');
  assert.equal(jobKind({ part: { kind: 'band', index: 2 } }), 'band');
  assert.equal(jobKind({ part: { kind: 'assemble' } }), 'assemble');
});
