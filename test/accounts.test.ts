/**
 * Users, keys, sessions, the audit trail and the queue dashboard through the
 * API (AUTH_MODE=required) against the real MongoDB-compatible server and Redis.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { secretDigest } from '../shared/accounts/credentials.js';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { waitFor } from './helpers/test-config.js';
import { ANON, bearer, createKey, createUser, signIn, type Caller } from './helpers/principals.js';
import { documented } from './helpers/openapi.js';

const TOKEN = 'bootstrap-admin-token-0123456789';
const admin = bearer('bootstrap', TOKEN);
let api: TestApi;
let open: TestApi;
after(async () => {
  await Promise.allSettled([api?.close(), open?.close()]);
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'accounts', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN });
  open = await startTestApi(servers, 'accounts-open', { AUTH_MODE: 'open' });
});

async function call(caller: Caller | { headers: Record<string, string> }, method: string, path: string, body?: unknown, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { ...caller.headers, ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${api.base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body), redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') ? JSON.parse(text) : null };
}

let unique = 0;
const newName = (base: string) => `${base}${++unique}`;

describe('users', () => {
  test('an admin creates, lists and removes users; names and passwords are checked; a member may not', async () => {
    const name = newName('carol');
    const made = await call(admin, 'POST', '/api/v1/users', { name, password: 'long-enough-pw', role: 'member' });
    assert.equal(made.status, 201, made.text);
    assert.deepEqual({ name: made.json.name, role: made.json.role }, { name, role: 'member' });
    assert.equal(made.json.passwordHash, undefined, 'the hash never leaves the server');
    assert.equal((await call(admin, 'POST', '/api/v1/users', { name, password: 'long-enough-pw', role: 'member' })).status, 409);
    const bad = await call(admin, 'POST', '/api/v1/users', { name: 'Not Valid', password: 'long-enough-pw' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'HUGEMAP_ERR_BAD_REQUEST');
    assert.equal((await call(admin, 'POST', '/api/v1/users', { name: newName('short'), password: 'short' })).status, 400);
    const stored = await api.store.images.db.collection('users').findOne({ _id: name as never });
    assert.match(String(stored?.passwordHash), /^\$argon2id\$/, 'argon2id');

    const key = await createKey(api.base, admin, { user: name, scopes: ['read', 'write'] });
    const member = bearer(name, key.key);
    assert.equal((await call(member, 'GET', '/api/v1/users')).status, 403);
    assert.equal((await call(member, 'POST', '/api/v1/users', { name: newName('x'), password: 'long-enough-pw' })).status, 403);
    const list = await call(admin, 'GET', '/api/v1/users');
    assert.ok(list.json.items.some((u: { name: string }) => u.name === name));
    assert.equal((await call(admin, 'DELETE', `/api/v1/users/${name}`)).status, 204);
    assert.equal((await call(member, 'GET', '/api/v1/keys')).status, 401, "a removed user's keys stop working");
    assert.equal((await call(admin, 'DELETE', `/api/v1/users/${name}`)).status, 404);
  });
});

describe('keys', () => {
  test('hm_ + 32 random bytes, shown once, stored only as a digest; scopes bounded by the role and by the credential', async () => {
    const name = newName('dave');
    await createUser(api.base, TOKEN, name, 'member');
    const made = await call(admin, 'POST', '/api/v1/keys', { user: name, scopes: ['read', 'write'], label: 'laptop' });
    assert.equal(made.status, 201);
    assert.match(made.json.key, /^hm_[A-Za-z0-9_-]{43}$/);
    assert.match(made.json.id, /^[0-9a-f]{18}$/, 'hex: never starts with "-", which `hugemap keys revoke ID` would read as an option');
    assert.deepEqual([made.json.user, made.json.label, made.json.scopes], [name, 'laptop', ['read', 'write']]);
    const stored = await api.store.images.db.collection('api_keys').findOne({ _id: made.json.id });
    assert.equal(stored?.digest, secretDigest(made.json.key));
    assert.ok(!JSON.stringify(stored).includes(made.json.key.slice(3)), 'the key itself is not stored');
    const listed = await call(bearer(name, made.json.key), 'GET', '/api/v1/keys');
    assert.equal(listed.json.items.length, 1);
    assert.equal(listed.json.items[0].key, undefined, 'listing never shows the key');

    const member = bearer(name, made.json.key);
    assert.equal((await call(admin, 'POST', '/api/v1/keys', { user: name, scopes: ['admin'] })).status, 403, "a member's key cannot carry admin");
    assert.equal((await call(member, 'POST', '/api/v1/keys', { user: 'someone-else', scopes: ['read'] })).status, 403);
    const own = await call(member, 'POST', '/api/v1/keys', { scopes: ['read'] });
    assert.equal(own.status, 201, 'a member makes keys for themselves');
    const readOnly = bearer(name, own.json.key);
    assert.equal((await call(readOnly, 'POST', '/api/v1/keys', { scopes: ['write'] })).status, 403, 'a read key cannot mint a write key');
    assert.equal((await call(admin, 'POST', '/api/v1/keys', { user: name, scopes: ['read'], expiresAt: '2001-01-01T00:00:00Z' })).status, 400);
  });

  test('an expiring key stops working once it expires', async () => {
    const name = newName('erin');
    await createUser(api.base, TOKEN, name, 'member');
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const key = await createKey(api.base, admin, { user: name, scopes: ['read'], expiresAt });
    const caller = bearer(name, key.key);
    await waitFor('the key to expire', async () => ((await call(caller, 'GET', '/api/v1/keys')).status === 401 ? true : undefined), 20_000, 200);
  });

  test('the bootstrap token acts as an admin; a wrong token or a malformed bearer is 401', async () => {
    assert.equal((await call(admin, 'GET', '/api/v1/users')).status, 200);
    const wrong = await call(bearer('x', 'wrong-token-wrong-token'), 'GET', '/api/v1/images');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.code, 'HUGEMAP_ERR_UNAUTHENTICATED');
    assert.equal((await call(ANON, 'GET', '/api/v1/images')).status, 200, 'no credential at all reads public things');
  });
});

describe('sessions', () => {
  test('sign in sets an HttpOnly SameSite=Lax cookie; GET says who; sign out ends it on the server', async () => {
    const name = newName('frank');
    await createUser(api.base, TOKEN, name, 'member');
    const wrong = await call(ANON, 'POST', '/api/v1/session', { name, password: 'not-the-password' }, { Origin: api.base });
    assert.equal(wrong.status, 401);
    const res = await fetch(`${api.base}/api/v1/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: api.base },
      body: JSON.stringify({ name, password: `${name}-password-123` }),
    });
    assert.equal(res.status, 200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /hugemap_session=[A-Za-z0-9_-]{43}/);
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Lax/i);
    assert.doesNotMatch(setCookie, /Secure/i, 'not over plain http');
    const cookie = { headers: { Cookie: setCookie.split(';')[0]! } };
    const who = await call(cookie, 'GET', '/api/v1/session');
    assert.deepEqual(who.json.user, { name, role: 'member' });
    assert.equal(who.json.authMode, 'required');
    assert.deepEqual((await call(ANON, 'GET', '/api/v1/session')).json.user, null);

    assert.equal((await call(cookie, 'DELETE', '/api/v1/session', undefined, { Origin: api.base })).status, 204);
    assert.deepEqual((await call(cookie, 'GET', '/api/v1/session')).json.user, null, 'the old cookie is worth nothing now');
  });

  test('behind a TLS proxy (TRUST_PROXY) the cookie is Secure', async () => {
    const proxied = await startTestApi(servers, 'accounts-proxy', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN, TRUST_PROXY: 'loopback' });
    try {
      await createUser(proxied.base, TOKEN, 'gina', 'member');
      const res = await fetch(`${proxied.base}/api/v1/session`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Forwarded-Proto': 'https' },
        body: JSON.stringify({ name: 'gina', password: 'gina-password-123' }),
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('set-cookie') ?? '', /;\s*Secure/i);
    } finally {
      await proxied.close();
    }
  });

  test('a cookie-authenticated write from another origin, or with no origin, is refused (CSRF)', async () => {
    const name = newName('hank');
    await createUser(api.base, TOKEN, name, 'member');
    const cookie = { headers: { Cookie: await signIn(api.base, name) } };
    const body = { scopes: ['read'] };
    const foreign = await call(cookie, 'POST', '/api/v1/keys', body, { Origin: 'https://evil.example' });
    assert.equal(foreign.status, 403);
    assert.match(foreign.json.error.message, /cross-site/);
    assert.equal((await call(cookie, 'POST', '/api/v1/keys', body)).status, 403, 'no Origin and no Referer');
    assert.equal((await call(cookie, 'POST', '/api/v1/keys', body, { Referer: `${api.base}/me` })).status, 201, 'same-site Referer');
    assert.equal((await call(cookie, 'POST', '/api/v1/keys', body, { Origin: api.base })).status, 201);
  });
});

describe('audit', () => {
  test('records who created, changed and deleted what, and sign-ins, with time and address; admins only', async () => {
    const name = newName('ivy');
    await createUser(api.base, TOKEN, name, 'member');
    await call(ANON, 'POST', '/api/v1/session', { name, password: 'wrong-password-1' }, { Origin: api.base });
    await signIn(api.base, name);
    const key = await createKey(api.base, admin, { user: name, scopes: ['read'] });
    assert.equal((await call(bearer(name, key.key), 'GET', '/api/v1/audit')).status, 403);
    const res = await call(admin, 'GET', '/api/v1/audit?limit=500');
    assert.equal(res.status, 200);
    const mine = (res.json.items as Array<{ action: string; target: string; actor: string | null; address: string; at: string; via: string }>).filter(
      (e) => e.target === `user:${name}` || e.target === `key:${key.id}`,
    );
    assert.deepEqual(mine.map((e) => e.action).reverse(), ['user.create', 'session.sign-in-failed', 'session.sign-in', 'key.create']);
    const signInEntry = mine.find((e) => e.action === 'session.sign-in')!;
    assert.equal(signInEntry.actor, name);
    assert.match(signInEntry.address, /127\.0\.0\.1/);
    assert.ok(!Number.isNaN(Date.parse(signInEntry.at)));
    assert.equal(mine.find((e) => e.action === 'user.create')!.via, 'bootstrap');
  });
});

describe('the queue dashboard', () => {
  test('an admin key opens it, a member key is 403, a browser without a session goes to /login', async () => {
    const name = newName('jack');
    await createUser(api.base, TOKEN, name, 'member');
    await createUser(api.base, TOKEN, `${name}-ops`, 'admin');
    const memberKey = await createKey(api.base, admin, { user: name, scopes: ['read', 'write'] });
    const adminKey = await createKey(api.base, admin, { user: `${name}-ops`, scopes: ['read', 'admin'] });
    assert.equal((await call(bearer('ops', adminKey.key), 'GET', '/admin/queues/api/queues')).status, 200);
    assert.equal((await call(bearer('ops', TOKEN), 'GET', '/admin/queues/api/queues')).status, 200, 'the bootstrap token too');
    assert.equal((await call(bearer(name, memberKey.key), 'GET', '/admin/queues/api/queues')).status, 403);
    const json = await call(ANON, 'GET', '/admin/queues/api/queues', undefined, { Accept: 'application/json' });
    assert.equal(json.status, 401);
    const browser = await call(ANON, 'GET', '/admin/queues', undefined, { Accept: 'text/html' });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.get('location'), '/login?next=%2Fadmin%2Fqueues');
    const cookie = { headers: { Cookie: await signIn(api.base, `${name}-ops`, `${name}-ops-password-123`) } };
    const page = await call(cookie, 'GET', '/admin/queues', undefined, { Accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.match(page.text, /<html/i);
  });
});

describe('AUTH_MODE=open', () => {
  test('every request is the local admin, and the session says so', async () => {
    const res = await fetch(`${open.base}/api/v1/session`);
    assert.deepEqual(await res.json(), { user: { name: 'admin', role: 'admin' }, authMode: 'open', defaultVisibility: 'public' });
    assert.equal((await fetch(`${open.base}/admin/queues/api/queues`)).status, 200);
  });
});

describe('the OpenAPI document', () => {
  test('session, users, keys and audit answer as documented', async () => {
    const json = { 'Content-Type': 'application/json' };
    const name = newName('vera');
    const h = admin.headers;
    await documented(await fetch(`${api.base}/api/v1/session`), 'GET', '/api/v1/session');
    await documented(await fetch(`${api.base}/api/v1/users`, { method: 'POST', headers: { ...h, ...json }, body: JSON.stringify({ name, password: 'vera-password-123', role: 'member' }) }), 'POST', '/api/v1/users');
    await documented(await fetch(`${api.base}/api/v1/users`, { headers: h }), 'GET', '/api/v1/users');
    const key = (await documented(await fetch(`${api.base}/api/v1/keys`, { method: 'POST', headers: { ...h, ...json }, body: JSON.stringify({ user: name, scopes: ['read'] }) }), 'POST', '/api/v1/keys')) as { key: string };
    await documented(await fetch(`${api.base}/api/v1/keys`, { headers: { Authorization: `Bearer ${key.key}` } }), 'GET', '/api/v1/keys');
    await documented(await fetch(`${api.base}/api/v1/session`, { method: 'POST', headers: { ...json, Origin: api.base }, body: JSON.stringify({ name, password: 'vera-password-123' }) }), 'POST', '/api/v1/session');
    await documented(await fetch(`${api.base}/api/v1/audit`, { headers: h }), 'GET', '/api/v1/audit');
    await documented(await fetch(`${api.base}/api/v1/users`), 'GET', '/api/v1/users');
  });
});
