/**
 * IIIF renders against the real stack: their own render slots and a bounded
 * queue (a full queue is a 503 HUGEMAP_ERR_BUSY with Retry-After at once, not
 * a wait), while /i/ presets and cached or stored-tile answers still come;
 * the per-client render rate limit counts only renders that miss the cache.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { patterned, upload, waitUntilDone } from './helpers/image-service.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { scalingFor } from '../services/api/scaling.js';

const servers = await useTestServers();

describe('IIIF render limits', () => {
  let api: TestApi;
  let worker: RunningWorker;
  let id: string;

  before(async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-scaled-'));
    api = await startTestApi(servers, 'iiif-limits', { IIIF_RENDERS: '1', IIIF_RENDER_QUEUE: '0', SCALE_CACHE_DIR: cacheDir, RATE_LIMIT_RENDERS_PER_MINUTE: '5' });
    worker = await startWorker(api.config);
    id = (await upload(api.base, await patterned(900, 600), 'limits.jpg')).json.id;
    await waitUntilDone(api.base, id);
  });
  after(async () => {
    await worker?.close();
    await api?.close();
  });

  test('a full IIIF queue answers 503 BUSY with Retry-After; presets, tiles and cached answers still come', async () => {
    const scaling = scalingFor(api.deps);
    const cached = `${api.base}/iiif/3/${id}/0,0,300,300/100,/0/default.jpg`;
    assert.equal((await fetch(cached)).headers.get('x-cache'), 'MISS');
    let release!: () => void;
    const held = scaling.iiifRenders.run(() => new Promise<void>((resolve) => (release = resolve)));
    try {
      assert.equal(scaling.iiifRenders.active, 1);
      const busy = await fetch(`${api.base}/iiif/3/${id}/10,10,300,300/100,/0/default.jpg`);
      assert.equal(busy.status, 503);
      assert.equal(busy.headers.get('retry-after'), '2');
      assert.equal((await busy.json()).error.code, 'HUGEMAP_ERR_BUSY');
      const preset = await fetch(`${api.base}/i/thumb/${id}.jpg`);
      assert.equal(preset.status, 200, '/i/ presets have slots of their own');
      assert.equal(preset.headers.get('x-cache'), 'MISS', 'the preset was rendered, not cached');
      const tile = await fetch(`${api.base}/iiif/3/${id}/0,0,256,256/256,/0/default.jpg`);
      assert.equal(tile.status, 200);
      assert.equal(tile.headers.get('x-iiif-source'), 'tile', 'a stored tile needs no render');
      const hit = await fetch(cached);
      assert.equal(hit.status, 200);
      assert.equal(hit.headers.get('x-cache'), 'HIT');
    } finally {
      release();
      await held;
    }
    const after = await fetch(`${api.base}/iiif/3/${id}/10,10,300,300/100,/0/default.jpg`);
    assert.equal(after.status, 200, 'served once a slot is free');
  });

  test('the per-client render limit counts renders that miss the cache, never cache hits or stored tiles', async () => {
    const cached = `${api.base}/iiif/3/${id}/0,0,300,300/100,/0/default.jpg`;
    assert.equal((await fetch(cached)).status, 200, 'rendered (or already cached) before the limit runs out');
    // RATE_LIMIT_RENDERS_PER_MINUTE=5 for this file: distinct uncached renders until one is refused.
    let refused: Response | undefined;
    for (let i = 0; i < 8 && !refused; i++) {
      const res = await fetch(`${api.base}/iiif/3/${id}/${30 + i},30,300,300/100,/0/gray.jpg`);
      if (res.status === 429) refused = res;
      else assert.equal(res.status, 200);
    }
    assert.ok(refused, 'a render past the limit is refused');
    assert.equal((await refused.json()).error.code, 'HUGEMAP_ERR_RATE_LIMITED');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.equal((await fetch(`${api.base}/i/small/${id}.webp`)).status, 429, 'scaled sizes share the limit');
    // Cache hits and stored tiles cost no render, so they still come.
    const hit = await fetch(cached);
    assert.equal(hit.status, 200);
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.equal((await fetch(`${api.base}/iiif/3/${id}/0,0,256,256/256,/0/default.jpg`)).status, 200);
  });
});
