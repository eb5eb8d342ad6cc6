/**
 * Rate limits (kept in Redis) and per-user quotas, against the real servers
 * with AUTH_MODE=required: refused with 429/413 and their headers, and a
 * refused upload leaves nothing in S3 or MongoDB.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { patterned } from './helpers/image-service.js';
import { bearer, createKey, createUser, uploadAs, type Caller } from './helpers/principals.js';

const TOKEN = 'bootstrap-admin-token-0123456789';
const admin = bearer('bootstrap', TOKEN);
let api: TestApi;
after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'access-limits', {
    AUTH_MODE: 'required',
    ADMIN_TOKEN: TOKEN,
    QUOTA_IMAGES: '1',
    QUOTA_BYTES: '100000',
    // Generous here; the tight limits get an API of their own (withTightLimits).
    RATE_LIMIT_SIGNIN_PER_ADDRESS: '1000',
  });
});

const signInAttempt = (name: string, password: string) =>
  fetch(`${api.base}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: api.base }, body: JSON.stringify({ name, password }) });

async function member(name: string): Promise<Caller> {
  await createUser(api.base, TOKEN, name, 'member');
  return bearer(name, (await createKey(api.base, admin, { user: name, scopes: ['read', 'write'] })).key);
}

async function leftovers(): Promise<{ uploads: string[]; originals: string[]; docs: number }> {
  const keys = async (prefix: string) => {
    const found: string[] = [];
    for await (const { key } of api.s3.listKeys(prefix)) found.push(key);
    return found.sort();
  };
  const uploads = await keys('uploads/');
  const originals = await keys('originals/');
  return { uploads, originals, docs: await api.store.images.countDocuments({}) };
}

describe('sign-in', () => {
  test('a burst of wrong passwords gets 429 within 10 tries, with Retry-After and RateLimit headers; then even the right one waits', async () => {
    await createUser(api.base, TOKEN, 'kim', 'member');
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await signInAttempt('kim', `wrong-${i}-password`);
      statuses.push(res.status);
      if (res.status === 429) {
        refused = res;
        break;
      }
    }
    assert.ok(refused, `no 429 in 40 tries: ${statuses.join(',')}`);
    assert.ok(statuses.length <= 10, `429 only after ${statuses.length} tries`);
    assert.ok(statuses.slice(0, -1).every((s) => s === 401));
    assert.equal(((await refused.json()) as any).error.code, 'HUGEMAP_ERR_RATE_LIMITED');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    assert.ok(Number(refused.headers.get('ratelimit-limit')) > 0);
    assert.equal((await signInAttempt('kim', 'kim-password-123')).status, 429, 'locked for the window');
    // The count lives in Redis, so every API replica sees it.
    const keys = await api.events.commands.keys(`${api.config.queuePrefix}:rl:signin-name*kim`);
    assert.equal(keys.length, 1);
  });

  test('a correct password forgives the earlier failures of that name', async () => {
    await createUser(api.base, TOKEN, 'lee', 'member');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) assert.equal((await signInAttempt('lee', 'wrong-password-x')).status, 401);
      assert.equal((await signInAttempt('lee', 'lee-password-123')).status, 200, `round ${round}`);
    }
  });
});

/** An API of its own with tight limits, so the other tests' setup does not spend them. */
async function withTightLimits(name: string, overrides: Record<string, string>, body: (tight: TestApi) => Promise<void>): Promise<void> {
  const tight = await startTestApi(servers, name, { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN, ...overrides });
  try {
    await body(tight);
  } finally {
    await tight.close();
  }
}

describe('writes', () => {
  test('past RATE_LIMIT_WRITES_PER_MINUTE a principal gets 429; reads go on; another principal is not affected', () =>
    withTightLimits('limits-writes', { RATE_LIMIT_WRITES_PER_MINUTE: '5' }, async (tight) => {
      await createUser(tight.base, TOKEN, 'mo', 'member');
      const mo = bearer('mo', (await createKey(tight.base, admin, { user: 'mo', scopes: ['read', 'write'] })).key);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await fetch(`${tight.base}/api/v1/keys`, { method: 'POST', headers: { ...mo.headers, 'Content-Type': 'application/json' }, body: '{"scopes":["read"]}' });
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429, 429]);
      assert.equal((await fetch(`${tight.base}/api/v1/keys`, { headers: mo.headers })).status, 200);
    }));
});

describe('sign-in per address', () => {
  test('failed attempts from one address across many names are limited too', () =>
    withTightLimits('limits-address', { RATE_LIMIT_SIGNIN_PER_ADDRESS: '3' }, async (tight) => {
      const statuses: number[] = [];
      for (const name of ['n1', 'n2', 'n3', 'n4']) {
        const res = await fetch(`${tight.base}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password: 'whatever-pw' }) });
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    }));
});

describe('quotas', () => {
  test('QUOTA_IMAGES: the second image is 413 and leaves nothing behind', async () => {
    const nat = await member('nat');
    const first = await uploadAs(api.base, nat, await patterned(80, 60));
    assert.equal(first.status, 202, JSON.stringify(first.json));
    const before = await leftovers();
    const second = await uploadAs(api.base, nat, await patterned(90, 60));
    assert.equal(second.status, 413);
    assert.equal(second.json.error.code, 'HUGEMAP_ERR_QUOTA_EXCEEDED');
    assert.deepEqual(await leftovers(), before);
    const byUrl = await fetch(`${api.base}/api/v1/images`, { method: 'POST', headers: { ...nat.headers, 'Content-Type': 'application/json' }, body: '{"url":"https://example.com/a.jpg"}' });
    assert.equal(byUrl.status, 413, 'URL submissions count too');
  });

  test('QUOTA_BYTES: an upload past the bytes left is 413 and leaves nothing behind; admins are exempt', async () => {
    const oz = await member('oz');
    const big = await patterned(1200, 900, 'png');
    assert.ok(big.length > 100_000, `fixture is ${big.length} bytes`);
    const before = await leftovers();
    const res = await uploadAs(api.base, oz, big, {}, 'big.png');
    assert.equal(res.status, 413);
    assert.equal(res.json.error.code, 'HUGEMAP_ERR_QUOTA_EXCEEDED');
    assert.deepEqual(await leftovers(), before);
    const asAdmin = await uploadAs(api.base, admin, big, {}, 'big.png');
    assert.equal(asAdmin.status, 202, 'the bootstrap admin has no quota');
  });

  test('a per-user override replaces the default', async () => {
    const made = await fetch(`${api.base}/api/v1/users`, {
      method: 'POST',
      headers: { ...admin.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'pat', password: 'pat-password-123', role: 'member', quota: { images: 3 } }),
    });
    assert.equal(made.status, 201);
    const pat = bearer('pat', (await createKey(api.base, admin, { user: 'pat', scopes: ['write'] })).key);
    for (let i = 0; i < 3; i++) assert.equal((await uploadAs(api.base, pat, await patterned(40 + i, 30))).status, 202, `upload ${i}`);
    assert.equal((await uploadAs(api.base, pat, await patterned(50, 30))).status, 413);
  });
});
