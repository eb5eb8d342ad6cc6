/**
 * The ops dashboard's own behaviour: read-only by default, actions with
 * ADMIN_READ_ONLY=false, job links to the viewer. Who may open it is tested
 * with the other access rules (test/accounts.test.ts, the queue dashboard).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { enqueueTileJob, TILE_QUEUE } from '../shared/queue.js';

const servers = await useTestServers();
const TOKEN = 'a-long-admin-token-0123456789';
const asAdmin = { Authorization: `Bearer ${TOKEN}` };

describe('ops dashboard /admin/queues', () => {
  let readOnly: TestApi;
  let writable: TestApi;

  before(async () => {
    readOnly = await startTestApi(servers, 'admin-ro', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN });
    writable = await startTestApi(servers, 'admin-rw', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN, ADMIN_READ_ONLY: 'false' });
  });
  after(async () => {
    await Promise.allSettled([readOnly?.close(), writable?.close()]);
  });

  test('read-only unless configured otherwise; a job links to its image page', async () => {
    await enqueueTileJob(readOnly.queue, 'AAAAAAAAAAAAAAAAAAAAAA');
    const ok = await fetch(`${readOnly.base}/admin/queues/api/queues?activeQueue=${TILE_QUEUE}&status=latest`, { headers: asAdmin });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as any;
    const queue = body.queues.find((q: any) => q.name === TILE_QUEUE);
    assert.ok(queue, JSON.stringify(body).slice(0, 300));
    assert.equal(queue.readOnlyMode, true);
    const job = queue.jobs.find((j: any) => j.id === 'AAAAAAAAAAAAAAAAAAAAAA');
    assert.deepEqual(job?.externalUrl, { href: '/v/AAAAAAAAAAAAAAAAAAAAAA', displayText: 'image status' });
    const page = await fetch(`${readOnly.base}/admin/queues`, { headers: asAdmin });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  });

  test('ADMIN_READ_ONLY=false allows actions', async () => {
    const ok = await fetch(`${writable.base}/admin/queues/api/queues`, { headers: asAdmin });
    assert.equal(ok.status, 200);
    const queue = ((await ok.json()) as any).queues.find((q: any) => q.name === TILE_QUEUE);
    assert.equal(queue.readOnlyMode, false);
  });

  test('the old /admin/login token page is gone: people sign in at /login', async () => {
    assert.equal((await fetch(`${readOnly.base}/admin/login`)).status, 404);
  });
});
