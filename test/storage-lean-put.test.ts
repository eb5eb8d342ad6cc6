import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { BadRequestError, StorageError } from '../shared/errors.js';
import { escapeKey, objectPath, resolveBucketTarget } from '../shared/storage/s3-endpoint.js';
import { S3Store, type S3Settings, type S3StoreOptions } from '../shared/storage/s3-store.js';
import { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy.js';
import { uniqueName, useTestServers } from './helpers/servers.js';

const servers = await useTestServers();
const stores: S3Store[] = [];
let store: S3Store;
let proxy: FaultProxy;
/** Faults by key suffix, decided per request; the proxy consults it for every request. */
let faults: (req: ProxiedRequest) => Fault | null = () => null;

function newStore(settings: Partial<S3Settings> = {}, opts: S3StoreOptions = {}): S3Store {
  const s = new S3Store({ ...servers.s3, bucket: store?.bucket ?? uniqueName('lean-put'), forcePathStyle: true, ...settings }, opts);
  stores.push(s);
  return s;
}

/** A store whose requests go through the fault proxy. Its back-off is the default one (about 100 ms first). */
function proxiedStore(settings: Partial<S3Settings> = {}, opts: S3StoreOptions = {}): S3Store {
  return newStore({ endpoint: proxy.url, ...settings }, opts);
}

function putsTo(path: string): number[] {
  return proxy.stats.requests.filter((r) => r.method === 'PUT' && r.path === path).map((r) => r.status);
}

async function getObject(key: string): Promise<{ bytes: Buffer; contentType?: string; cacheControl?: string; etag?: string }> {
  const res = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
  const bytes = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
  return { bytes, ...(res.ContentType ? { contentType: res.ContentType } : {}), ...(res.CacheControl ? { cacheControl: res.CacheControl } : {}), ...(res.ETag ? { etag: res.ETag } : {}) };
}

before(async () => {
  store = newStore();
  await store.ensureBucket();
  proxy = await startFaultProxy({ target: servers.s3.endpoint, shouldFail: (req) => faults(req) });
});

after(async () => {
  for (const s of stores) s.close();
  await proxy.close();
});

describe('S3Store.putSmallObject against MinIO', () => {
  test('stores the same bytes, Content-Type, Cache-Control and ETag as putBody', async () => {
    const body = randomBytes(20_000);
    const meta = { contentType: 'image/jpeg', cacheControl: 'public, max-age=31536000, immutable' };
    const viaSdk = await store.putBody('same/sdk.jpeg', body, meta);
    const viaLean = await store.putSmallObject('same/lean.jpeg', body, meta);
    assert.equal(viaLean.etag, `"${createHash('md5').update(body).digest('hex')}"`);
    assert.equal(viaLean.etag, viaSdk.etag);

    const [sdk, lean] = [await getObject('same/sdk.jpeg'), await getObject('same/lean.jpeg')];
    assert.deepEqual(lean.bytes, body);
    assert.deepEqual({ ...lean, bytes: null }, { ...sdk, bytes: null });
    assert.equal(lean.cacheControl, meta.cacheControl);
    assert.equal(lean.contentType, 'image/jpeg');

    // Without Cache-Control neither stores one.
    await store.putBody('same/sdk.xml', '<Image/>', { contentType: 'application/xml' });
    await store.putSmallObject('same/lean.xml', Buffer.from('<Image/>'), { contentType: 'application/xml' });
    const heads = await Promise.all(
      ['same/sdk.xml', 'same/lean.xml'].map((Key) => store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key }))),
    );
    assert.deepEqual(
      heads.map((h) => [h.ContentType, h.CacheControl, h.ContentLength, h.ETag]),
      [
        ['application/xml', undefined, 8, heads[0]?.ETag],
        ['application/xml', undefined, 8, heads[0]?.ETag],
      ],
    );
  });

  test('keys with spaces, +, =, %, unicode and sub-delimiters round-trip under the same name', async () => {
    const keys = [
      'awkward/with space/a b.jpeg',
      'awkward/plus+and=equals.jpeg',
      'awkward/100%/p%20q%2F',
      'awkward/ünï-日本-😀.png',
      "awkward/!*'()&$,;:@[].jpeg",
      'awkward/tilde~dot.under_dash-',
    ];
    for (const key of keys) await store.putSmallObject(key, Buffer.from(`bytes of ${key}`), { contentType: 'image/png' });
    for (const key of keys) assert.equal((await getObject(key)).bytes.toString(), `bytes of ${key}`, key);
    const listed: string[] = [];
    for await (const o of store.listKeys('awkward/')) listed.push(o.key);
    assert.deepEqual(listed.sort(), [...keys].sort());
  });

  test('addresses a path-style store as /bucket/key, each segment escaped once', async () => {
    const s = proxiedStore();
    await s.putSmallObject('style/a b+c/ü.jpeg', Buffer.from('x'), { contentType: 'image/jpeg' });
    assert.deepEqual(putsTo(`/${s.bucket}/style/a%20b%2Bc/%C3%BC.jpeg`), [200]);
  });

  test('retries injected 503s and connection resets, then succeeds', async () => {
    const s = proxiedStore({}, { maxAttempts: 5 });
    faults = ({ method, path, n }) => {
      if (method !== 'PUT') return null;
      if (path.endsWith('/retry/after-503') && n <= 2) return 'error503';
      if (path.endsWith('/retry/after-reset') && n === 1) return 'reset';
      return null;
    };
    try {
      const body = randomBytes(8_000);
      await s.putSmallObject('retry/after-503', body, { contentType: 'image/jpeg' });
      await s.putSmallObject('retry/after-reset', body, { contentType: 'image/jpeg' });
      assert.deepEqual(putsTo(`/${s.bucket}/retry/after-503`), [503, 503, 200]);
      assert.deepEqual(putsTo(`/${s.bucket}/retry/after-reset`), [0, 200]);
      assert.deepEqual((await getObject('retry/after-503')).bytes, body);
      assert.deepEqual((await getObject('retry/after-reset')).bytes, body);
    } finally {
      faults = () => null;
    }
  });

  test('gives up after maxAttempts on a server that keeps failing, with the S3 code and status', async () => {
    const s = proxiedStore({}, { maxAttempts: 3 });
    faults = ({ method, path }) => (method === 'PUT' && path.endsWith('/retry/always-503') ? 'error503' : null);
    try {
      await assert.rejects(s.putSmallObject('retry/always-503', Buffer.from('x'), { contentType: 'image/jpeg' }), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.match(err.message, /^S3 PutObject retry\/always-503 failed: ServiceUnavailable: .*\(HTTP 503\)$/);
        return true;
      });
      assert.deepEqual(putsTo(`/${s.bucket}/retry/always-503`), [503, 503, 503]);
    } finally {
      faults = () => null;
    }
  });

  test('a wrong secret fails at once with SignatureDoesNotMatch and HTTP 403, not retried', async () => {
    const s = proxiedStore({ secretAccessKey: 'not-the-secret' }, { maxAttempts: 5 });
    await assert.rejects(s.putSmallObject('denied/tile.jpeg', Buffer.from('x'), { contentType: 'image/jpeg' }), (err: unknown) => {
      assert.ok(err instanceof StorageError);
      assert.equal(err.code, 'HUGEMAP_ERR_STORAGE');
      assert.match(err.message, /^S3 PutObject denied\/tile\.jpeg failed: SignatureDoesNotMatch: .+ \(HTTP 403\)$/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.deepEqual(putsTo(`/${s.bucket}/denied/tile.jpeg`), [403]);
    assert.equal(await store.head('denied/tile.jpeg'), null);
  });

  test('a missing bucket fails at once with NoSuchBucket and HTTP 404', async () => {
    const s = proxiedStore({ bucket: uniqueName('no-such') }, { maxAttempts: 5 });
    await assert.rejects(s.putSmallObject('k', Buffer.from('x'), { contentType: 'image/jpeg' }), /failed: NoSuchBucket: .+ \(HTTP 404\)$/);
    assert.deepEqual(putsTo(`/${s.bucket}/k`), [404]);
  });

  test('sends the session token of credentials that have one, as putBody does', async () => {
    const s = newStore();
    const { accessKeyId, secretAccessKey } = servers.s3;
    Object.assign(s.client.config, { credentials: async () => ({ accessKeyId, secretAccessKey, sessionToken: 'not-a-valid-token' }) });
    const meta = { contentType: 'image/jpeg' };
    const sdkError = await s.putBody('token/sdk', Buffer.from('x'), meta).then(() => null, (err: unknown) => err);
    const leanError = await s.putSmallObject('token/lean', Buffer.from('x'), meta).then(() => null, (err: unknown) => err);
    // MinIO refuses a token it did not issue; a token left out would have been accepted.
    assert.ok(sdkError instanceof StorageError && leanError instanceof StorageError, `sdk: ${String(sdkError)}; lean: ${String(leanError)}`);
    const codeOf = (e: StorageError) => /failed: (\w+):/.exec(e.message)?.[1];
    assert.ok(codeOf(sdkError), sdkError.message);
    assert.equal(codeOf(leanError), codeOf(sdkError));
  });

  test('a body over 5 MiB is refused before any request; 5 MiB itself and an empty body go up', async () => {
    const s = proxiedStore();
    const seen = proxy.stats.requests.length;
    await assert.rejects(s.putSmallObject('big/over', Buffer.alloc(5 * 1024 * 1024 + 1), { contentType: 'image/jpeg' }), BadRequestError);
    await assert.rejects(s.putSmallObject('', Buffer.from('x'), { contentType: 'image/jpeg' }), BadRequestError);
    assert.equal(proxy.stats.requests.length, seen);

    const limit = randomBytes(5 * 1024 * 1024);
    await s.putSmallObject('big/limit', limit, { contentType: 'image/jpeg' });
    assert.deepEqual((await getObject('big/limit')).bytes, limit);
    await s.putSmallObject('big/empty', Buffer.alloc(0), { contentType: 'image/jpeg' });
    assert.equal((await store.head('big/empty'))?.size, 0);
  });
});

describe('bucket URL resolution (no server)', () => {
  async function urlFor(settings: Omit<S3Settings, 'bucket'> & { bucket?: string }, key: string): Promise<string> {
    const s = newStore({ endpoint: undefined, accessKeyId: undefined, secretAccessKey: undefined, bucket: 'my-tiles', ...settings });
    const target = await resolveBucketTarget(s.client, s.bucket);
    assert.ok(target);
    return `${target.url.origin}${objectPath(target, key)} ${target.signingRegion}`;
  }

  test('AWS without an endpoint is virtual-hosted in the bucket region', async () => {
    assert.equal(
      await urlFor({ region: 'eu-west-1', forcePathStyle: false }, 'images/a b/12/0_0.jpeg'),
      'https://my-tiles.s3.eu-west-1.amazonaws.com/images/a%20b/12/0_0.jpeg eu-west-1',
    );
  });

  test('forcePathStyle, dotted bucket names and custom endpoints come out as the SDK makes them', async () => {
    assert.equal(await urlFor({ region: 'eu-west-1', forcePathStyle: true }, 'k'), 'https://s3.eu-west-1.amazonaws.com/my-tiles/k eu-west-1');
    assert.equal(await urlFor({ region: 'eu-west-1', forcePathStyle: false, bucket: 'my.tiles' }, 'k'), 'https://s3.eu-west-1.amazonaws.com/my.tiles/k eu-west-1');
    assert.equal(
      await urlFor({ region: 'us-east-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000' }, 'a/b'),
      'http://127.0.0.1:9000/my-tiles/a/b us-east-1',
    );
    assert.equal(
      await urlFor({ region: 'auto', forcePathStyle: false, endpoint: 'https://acct.r2.example.com' }, 'a/b'),
      'https://my-tiles.acct.r2.example.com/a/b auto',
    );
  });

  test('S3 Express directory buckets are left to the SDK', async () => {
    const s = newStore({ endpoint: undefined, region: 'us-west-2', forcePathStyle: false, bucket: 'tiles--usw2-az1--x-s3' });
    assert.equal(await resolveBucketTarget(s.client, s.bucket), null);
  });

  test('escapeKey keeps unreserved characters and slashes, escapes everything else once', () => {
    assert.equal(escapeKey("a b+c=d%e/ü/(x)!*'~._-/日"), "a%20b%2Bc%3Dd%25e/%C3%BC/%28x%29%21%2A%27~._-/%E6%97%A5");
  });
});
