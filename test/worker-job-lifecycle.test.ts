/**
 * A job's life in the worker against the real servers (API, BullMQ on Redis,
 * FerretDB, MinIO, and a remote HTTP server for URL sources): job-level retries
 * (a transient failure retried and then done; attempts used up; a permanent
 * error not retried), URL sources failing end to end, and an image deleted
 * while its job is queued and while it is being tiled: the job stops and
 * nothing is left in S3, MongoDB or the worker's folder.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { newImageDoc } from '../shared/image-status.js';
import { TILE_BACKOFF, tileJobOptions } from '../shared/queue.js';
import { newImageId, contentImageIdOf } from '../services/api/image-id.js';
import { jobPaths } from '../workers/job-context.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { patterned } from './helpers/image-service.js';
import { useTestServers } from './helpers/servers.js';
import { waitFor } from './helpers/test-config.js';

const servers = await useTestServers();

describe('a job in the worker: retries, URL sources failing, deletion mid-job', () => {
  let api: TestApi;
  let worker: RunningWorker;
  let s3Proxy: FaultProxy;
  let origin: http.Server;
  let originUrl: string;
  /** Per path on the remote server: the answers to give, in order (the last one repeats). */
  const answers = new Map<string, Array<200 | 404 | 503>>();
  const hits = new Map<string, number>();
  let remoteJpeg: Buffer;
  /** The image whose tile PUTs the worker's S3 link holds until released (deletion mid-tiling). */
  let holdTilesOf: string | null = null;
  let heldTiles = 0;

  before(async () => {
    remoteJpeg = await patterned(640, 480);
    origin = http.createServer((req, res) => {
      const path = req.url ?? '';
      const n = (hits.get(path) ?? 0) + 1;
      hits.set(path, n);
      const list = answers.get(path) ?? [404];
      const status = list[Math.min(n, list.length) - 1]!;
      if (status !== 200) return void res.writeHead(status).end();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': remoteJpeg.length }).end(remoteJpeg);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    api = await startTestApi(servers, 'job-lifecycle', { FETCH_ALLOW_HOSTS: new URL(originUrl).host });
    // The worker reaches S3 through a link that can hang one image's tile PUTs; everything else passes.
    s3Proxy = await startFaultProxy({
      target: api.config.s3.endpoint,
      hold: ({ method, path }) => {
        const hold = holdTilesOf !== null && method === 'PUT' && path.includes(`/images/${holdTilesOf}/image_files/`);
        if (hold) heldTiles++;
        return hold;
      },
    });
    worker = await startWorker({ ...api.config, s3: { ...api.config.s3, endpoint: s3Proxy.url } });
  });

  after(async () => {
    s3Proxy?.release();
    await worker?.close();
    await api?.close();
    await s3Proxy?.close();
    origin?.close();
  });

  const submitUrl = async (path: string): Promise<string> => {
    const res = await fetch(`${api.base}/api/v1/images`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${originUrl}${path}` }) });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };

  const upload = async (bytes: Buffer, filename: string): Promise<string> => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(bytes)]), filename);
    const res = await fetch(`${api.base}/api/v1/images`, { method: 'POST', body: form });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };

  const terminal = (id: string) =>
    waitFor(`image ${id} to finish`, async () => {
      const doc = await api.store.get(id);
      return doc?.status === 'done' || doc?.status === 'failed' ? doc : undefined;
    }, 120_000, 100);

  /** The job once BullMQ has finished with it (completed or failed), with what it returned. */
  const finishedJob = (id: string) =>
    waitFor(`job ${id} to end`, async () => {
      // The state first: a job read before it was final could carry the counts of a moment earlier.
      const state = await api.queue.getJobState(id);
      if (state !== 'completed' && state !== 'failed') return undefined;
      const job = (await api.queue.getJob(id))!;
      return { state, returned: job.returnvalue as unknown, attemptsMade: job.attemptsMade };
    }, 120_000, 100);

  const keys = async (prefix: string) => {
    const found: string[] = [];
    for await (const o of api.s3.listKeys(prefix)) found.push(o.key);
    return found;
  };

  /** Nothing of the image anywhere: objects, status document, the worker's folder. */
  async function assertNothingLeft(id: string): Promise<void> {
    assert.deepEqual(await keys(`images/${id}/`), [], 'no objects under images/{id}/');
    assert.deepEqual(await keys(`originals/${id}`), [], 'no original');
    assert.equal(await api.store.get(id), null, 'no status document');
    await assert.rejects(access(jobPaths(api.config.workDir, id).dir), { code: 'ENOENT' }, 'no folder in the worker');
  }

  test('the job options retry with the worker\'s backoff: JOB_ATTEMPTS attempts (workers/job-failure.ts decides the delays)', () => {
    assert.equal(tileJobOptions.attempts, 12);
    assert.deepEqual(tileJobOptions.backoff, { type: TILE_BACKOFF });
  });

  test('a remote server answering 503 once: the job is retried and the image is done', async () => {
    answers.set('/busy.jpg', [503, 200]);
    const id = await submitUrl('/busy.jpg');
    const doc = await terminal(id);
    assert.equal(doc.status, 'done', JSON.stringify(doc.error));
    assert.equal(doc.attempts, 2, 'one retry');
    assert.equal(hits.get('/busy.jpg'), 2);
    assert.equal(doc.error, null, 'the failed attempt\'s error is cleared');
    assert.equal((await api.s3.head(`originals/${id}`))?.size, remoteJpeg.length);
    assert.ok((await keys(`images/${id}/`)).includes(`images/${id}/image.dzi`));
  });

  test('a remote server that keeps answering 503: every attempt used, then failed with its code in MongoDB', async () => {
    answers.set('/down.jpg', [503]);
    // The image as the API makes it, and its job with the real options but three quick attempts.
    const id = newImageId();
    await api.store.create(newImageDoc(id, { kind: 'url', url: `${originUrl}/down.jpg` }, null));
    await api.queue.add('tile', { imageId: id }, { ...tileJobOptions, jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    const doc = await terminal(id);
    const seen = JSON.stringify({ status: doc.status, stage: doc.stage, error: doc.error, attempts: doc.attempts, hits: hits.get('/down.jpg') });
    assert.deepEqual([doc.status, doc.stage, doc.error?.code], ['failed', 'failed', 'HUGEMAP_ERR_URL_FETCH_FAILED'], seen);
    assert.match(doc.error?.message ?? '', /server answered HTTP 503/);
    assert.equal(doc.attempts, 3, seen);
    assert.equal(hits.get('/down.jpg'), 3, seen);
    const job = await finishedJob(id);
    assert.deepEqual({ state: job.state, attemptsMade: job.attemptsMade }, { state: 'failed', attemptsMade: 3 }, JSON.stringify(job));
    assert.deepEqual(await keys(`images/${id}/`), []);
  });

  test('a remote server answering 404: failed at once with HUGEMAP_ERR_URL_FETCH_FAILED, never retried', async () => {
    answers.set('/gone.jpg', [404, 200]);
    const id = await submitUrl('/gone.jpg');
    const doc = await terminal(id);
    assert.equal(doc.status, 'failed');
    assert.equal(doc.error?.code, 'HUGEMAP_ERR_URL_FETCH_FAILED');
    assert.match(doc.error?.message ?? '', /server answered HTTP 404/);
    assert.equal(doc.attempts, 1);
    const job = await finishedJob(id);
    assert.deepEqual({ state: job.state, attemptsMade: job.attemptsMade }, { state: 'failed', attemptsMade: 1 });
    assert.equal(hits.get('/gone.jpg'), 1, 'asked once: the 200 it would have got next was never asked for');
    assert.deepEqual(await keys(`images/${id}/`), []);
  });

  test('deleted while queued: the job is removed with it, nothing runs and nothing is left', async () => {
    await api.queue.pause();
    let id: string;
    try {
      id = await upload(await patterned(500, 400), 'queued.jpg');
      assert.equal(await (await api.queue.getJob(id))?.getState(), 'waiting', 'not taken: the queue is paused');
      assert.equal((await fetch(`${api.base}/api/v1/images/${id}`, { method: 'DELETE' })).status, 204);
      assert.equal(await api.queue.getJob(id), undefined, 'the job is gone from the queue');
    } finally {
      await api.queue.resume();
    }
    await assertNothingLeft(id);
  });

  test('an image gone before the worker takes its job: the job ends as image-gone and leaves nothing', async () => {
    // The race a DELETE can lose: its job was already taken when the DELETE looked, so only the document goes.
    const id = newImageId();
    await api.queue.pause();
    try {
      await api.store.create(newImageDoc(id, { kind: 'upload', filename: 'late.jpg' }, null));
      await api.queue.add('tile', { imageId: id }, { ...tileJobOptions, jobId: id });
      assert.equal(await api.store.delete(id), true);
    } finally {
      await api.queue.resume();
    }
    assert.deepEqual(await finishedJob(id), { state: 'completed', returned: 'image-gone', attemptsMade: 1 });
    await assertNothingLeft(id);
  });

  test('deleted while being tiled: the job stops, and the tiles it was storing are removed after it', async () => {
    const bytes = await patterned(2400, 1600);
    const id = contentImageIdOf(bytes);
    holdTilesOf = id;
    heldTiles = 0;
    try {
      assert.equal(await upload(bytes, 'busy.jpg'), id);
      // Tile PUTs held at the link: the job is in the middle of its cut and upload.
      await waitFor('tile PUTs to be held', async () => (heldTiles > 0 ? true : undefined), 120_000, 20);
      const during = await api.store.get(id);
      assert.deepEqual([during?.status, during?.stage], ['processing', 'tile']);
      assert.equal((await fetch(`${api.base}/api/v1/images/${id}`, { method: 'DELETE' })).status, 204);
      assert.equal(await api.store.get(id), null);
    } finally {
      // The held tiles now reach S3, after the DELETE removed the image's objects: the worker must remove them.
      s3Proxy.release();
      holdTilesOf = null;
    }
    assert.deepEqual(await finishedJob(id), { state: 'completed', returned: 'image-gone', attemptsMade: 1 });
    assert.ok(s3Proxy.countSuccessfulPuts(`/${api.config.s3.bucket}/images/${id}/image_files/`).size > 0, 'some tiles were stored after the DELETE');
    await assertNothingLeft(id);
  });
});
