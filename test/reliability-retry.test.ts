/**
 * A failed image can be tried again: POST /api/v1/images/{id}/retry (owner or
 * admin; 409 unless it failed) or uploading the same bytes again re-queue it,
 * with its tile checkpoint cleared (its tiles were removed when it failed), and
 * a worker then finishes it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi } from './helpers/api-harness.js';
import { bearer, createKey, createUser, uploadAs } from './helpers/principals.js';
import { patterned, upload, waitUntilDone } from './helpers/image-service.js';
import { createLogger } from '../shared/logger.js';
import { startWorker } from '../workers/start-worker.js';

const servers = await useTestServers();
const TOKEN = 'retry-test-admin-token-0123456789';
const asAdmin = { Authorization: `Bearer ${TOKEN}` };

test('retry and re-upload re-queue a failed image; anyone else is refused, an image that has not failed is a conflict', async () => {
  const api = await startTestApi(servers, 'rel-retry', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN });
  after(() => api.close());
  const bytes = await patterned(360, 240);
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), 'p.jpg');
  const created = await fetch(`${api.base}/api/v1/images`, { method: 'POST', body: form, headers: asAdmin });
  assert.equal(created.status, 202);
  const id = ((await created.json()) as { id: string }).id;
  const retry = (headers: Record<string, string> = asAdmin) => fetch(`${api.base}/api/v1/images/${id}/retry`, { method: 'POST', headers });

  const notFailed = await retry();
  assert.equal(notFailed.status, 409);
  assert.equal(((await notFailed.json()) as any).error.code, 'HUGEMAP_ERR_CONFLICT');

  // As tile-worker.ts leaves a failed image: status, code, a checkpoint of rows whose tiles are gone.
  const fail = async () => {
    await (await api.queue.getJob(id))?.remove();
    await api.store.update(id, { status: 'failed', stage: 'failed', error: { code: 'HUGEMAP_ERR_DB_UNAVAILABLE', message: 'the database was unavailable; retry the image once the cause is fixed' }, 'checkpoint.tileRows': { tileSize: 256, rows: [3] } });
  };
  // ... and a split image: the record of its bands, which were done, and their checkpoints, whose tiles are gone too.
  const failSplit = () => api.store.update(id, { parts: { total: 2, done: 1 }, split: { plan: { bands: 2 }, finished: [0], tiles: { b0: 4 }, bytes: { b0: 400 } }, 'checkpoint.parts': { b0: { tiler: 't', rows: [2] } } });
  await fail();
  await failSplit();
  assert.equal((await retry({})).status, 401, 'anonymous callers may not retry');
  const retried = await retry();
  assert.equal(retried.status, 202);
  const view = (await retried.json()) as any;
  assert.equal(view.status, 'queued');
  assert.equal(view.error, null);
  const doc = await api.store.get(id);
  assert.equal(doc?.checkpoint.tileRows, undefined, 'the failed run\'s checkpoint is gone with its tiles');
  assert.deepEqual([doc?.split, doc?.parts, doc?.checkpoint.parts], [undefined, undefined, undefined], 'so is its split: it is split and cut again from nothing');
  assert.equal(await (await api.queue.getJob(id))?.getState(), 'waiting');

  await fail();
  const again = await upload(api.base, bytes, 'p.jpg');
  // upload() sends no credentials: in AUTH_MODE=required that is refused, and changes nothing.
  assert.equal(again.status, 401);
  assert.equal((await api.store.get(id))?.status, 'failed');
  const reform = new FormData();
  reform.set('file', new Blob([new Uint8Array(bytes)]), 'p.jpg');
  const reupload = await fetch(`${api.base}/api/v1/images`, { method: 'POST', body: reform, headers: asAdmin });
  assert.equal(reupload.status, 202);
  const body = (await reupload.json()) as any;
  assert.deepEqual([body.id, body.status, body.duplicate, body.requeued], [id, 'queued', true, true]);

  const worker = await startWorker(api.config, createLogger('worker', 'silent'));
  after(() => worker.close());
  const done = await waitUntilDone(api.base, id);
  assert.equal(done.status, 'done');
});

test('only the owner or an admin may retry: another member gets 403 for a public image, 404 for a private one', async () => {
  const api = await startTestApi(servers, 'rel-retry-owner', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN });
  after(() => api.close());
  for (const name of ['alice', 'bob']) await createUser(api.base, TOKEN, name, 'member');
  const admin = bearer('admin', TOKEN);
  const alice = bearer('alice', (await createKey(api.base, admin, { user: 'alice', scopes: ['read', 'write'] })).key);
  const bob = bearer('bob', (await createKey(api.base, admin, { user: 'bob', scopes: ['read', 'write'] })).key);
  const retry = (id: string, caller: { headers: Record<string, string> }) => fetch(`${api.base}/api/v1/images/${id}/retry`, { method: 'POST', headers: caller.headers });

  const ids: Record<string, string> = {};
  for (const visibility of ['public', 'private']) {
    const res = await uploadAs(api.base, alice, await patterned(visibility === 'public' ? 300 : 310, 200), { visibility });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    ids[visibility] = res.json.id;
    await (await api.queue.getJob(res.json.id))?.remove();
    await api.store.update(res.json.id, { status: 'failed', stage: 'failed', error: { code: 'HUGEMAP_ERR_STORAGE', message: 'the object storage (S3) failed; retry the image once the cause is fixed' } });
  }
  assert.equal((await retry(ids.public!, bob)).status, 403);
  assert.equal((await retry(ids.private!, bob)).status, 404);
  assert.equal((await api.store.get(ids.public!))?.status, 'failed', 'refused retries change nothing');
  assert.equal((await retry(ids.public!, alice)).status, 202);
  assert.equal((await retry(ids.private!, admin)).status, 202);
  assert.equal((await api.store.get(ids.private!))?.status, 'queued');
});
