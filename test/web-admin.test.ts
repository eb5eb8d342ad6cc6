/** The ops dashboard: never served without credentials, bearer/cookie token and basic auth, read-only by default. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { enqueueTileJob, TILE_QUEUE } from '../shared/queue.js';

const servers = await useTestServers();
const TOKEN = 'a-long-admin-token-0123456789';
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('ops dashboard /admin/queues', () => {
  let none: TestApi;
  let withToken: TestApi;
  let withBasic: TestApi;

  before(async () => {
    none = await startTestApi(servers, 'admin-none');
    withToken = await startTestApi(servers, 'admin-token', { ADMIN_TOKEN: TOKEN });
    withBasic = await startTestApi(servers, 'admin-basic', { ADMIN_USER: 'ops', ADMIN_PASSWORD: 'correct horse', ADMIN_READ_ONLY: 'false' });
  });
  after(async () => {
    await Promise.allSettled([none?.close(), withToken?.close(), withBasic?.close()]);
  });

  test('without configured credentials the dashboard does not exist', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/login']) {
      const res = await fetch(`${none.base}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 404, path);
    }
  });

  test('a token works as bearer or, after /admin/login, as a cookie; anything else is refused', async () => {
    const anon = await fetch(`${withToken.base}/admin/queues/api/queues`, { headers: { Accept: 'application/json' } });
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as any).error.code, 'HUGEMAP_ERR_UNAUTHORIZED');
    const wrong = await fetch(`${withToken.base}/admin/queues/api/queues`, { headers: { Authorization: 'Bearer nope-nope-nope-nope', Accept: 'application/json' } });
    assert.equal(wrong.status, 401);
    const browser = await fetch(`${withToken.base}/admin/queues`, { headers: { Accept: 'text/html' }, redirect: 'manual' });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.get('location'), '/admin/login?next=%2Fadmin%2Fqueues');

    await enqueueTileJob(withToken.queue, 'AAAAAAAAAAAAAAAAAAAAAA');
    const ok = await fetch(`${withToken.base}/admin/queues/api/queues?activeQueue=${TILE_QUEUE}&status=latest`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as any;
    const queue = body.queues.find((q: any) => q.name === TILE_QUEUE);
    assert.ok(queue, JSON.stringify(body).slice(0, 300));
    assert.equal(queue.readOnlyMode, true, 'read-only unless configured otherwise');
    const job = queue.jobs.find((j: any) => j.id === 'AAAAAAAAAAAAAAAAAAAAAA');
    assert.deepEqual(job?.externalUrl, { href: '/v/AAAAAAAAAAAAAAAAAAAAAA', displayText: 'image status' });

    const page = await fetch(`${withToken.base}/admin/queues`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);

    const badLogin = await fetch(`${withToken.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: 'wrong' }), redirect: 'manual' });
    assert.equal(badLogin.status, 401);
    const login = await fetch(`${withToken.base}/admin/login?next=%2Fadmin%2Fqueues`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), '/admin/queues');
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /hugemap_admin=/);
    assert.match(setCookie, /HttpOnly/i);
    const cookie = setCookie.split(';')[0]!;
    const viaCookie = await fetch(`${withToken.base}/admin/queues/api/queues`, { headers: { Cookie: cookie } });
    assert.equal(viaCookie.status, 200);
    const evil = await fetch(`${withToken.base}/admin/login?next=https%3A%2F%2Fevil.example`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    assert.equal(evil.headers.get('location'), '/admin/queues', 'no open redirect');
  });

  test('basic auth, and ADMIN_READ_ONLY=false allows actions', async () => {
    const challenge = await fetch(`${withBasic.base}/admin/queues/api/queues`, { headers: { Accept: 'application/json' } });
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('www-authenticate') ?? '', /^Basic /);
    assert.equal((await fetch(`${withBasic.base}/admin/queues/api/queues`, { headers: { Authorization: basic('ops', 'wrong pass') } })).status, 401);
    assert.equal((await fetch(`${withBasic.base}/admin/queues/api/queues`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 401, 'no token configured here');
    const ok = await fetch(`${withBasic.base}/admin/queues/api/queues`, { headers: { Authorization: basic('ops', 'correct horse') } });
    assert.equal(ok.status, 200);
    const queue = ((await ok.json()) as any).queues.find((q: any) => q.name === TILE_QUEUE);
    assert.equal(queue.readOnlyMode, false);
  });
});
