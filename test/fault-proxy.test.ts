/**
 * The fault proxy must fail exactly the requests it is told to, and pass
 * everything else through untouched: signed S3 requests stay valid (Host is
 * kept) and large bodies arrive intact.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { createTestBucket, s3ClientFor, useTestServers } from './helpers/servers.js';
import { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy.js';

const servers = await useTestServers();
const MiB = 1024 * 1024;

describe('fault proxy in front of S3', () => {
  let bucket: string;
  let proxy: FaultProxy;
  // Each test installs its own rule; the proxy consults whatever is current.
  let rule: (req: ProxiedRequest) => Fault | null = () => null;

  before(async () => {
    bucket = await createTestBucket(servers.s3, 'fault');
    proxy = await startFaultProxy({ target: servers.s3.endpoint, shouldFail: (req) => rule(req) });
  });
  after(() => proxy.close());

  const clientViaProxy = (maxAttempts?: number) => {
    const client = s3ClientFor({ ...servers.s3, endpoint: proxy.url }, maxAttempts ? { maxAttempts } : {});
    after(() => client.destroy());
    return client;
  };
  const recordsFor = (path: string) => proxy.stats.requests.filter((r) => r.path === path);

  test('signed PUT and GET pass through unchanged', async () => {
    rule = () => null;
    const s3 = clientViaProxy();
    const body = randomBytes(4096);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'plain.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'plain.bin' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
    assert.deepEqual(recordsFor(`/${bucket}/plain.bin`).map((r) => [r.method, r.status]), [['PUT', 200], ['GET', 200]]);
  });

  test('a failed request gets the injected status', async () => {
    rule = (req) => (req.path.endsWith('/injected-500') ? 'error500' : req.path.endsWith('/injected-503') ? 'error503' : null);
    const s3 = clientViaProxy(1); // no retries: we want to see the raw failure

    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'injected-500' })), (err: unknown) => {
      assert.ok(err instanceof S3ServiceException);
      assert.equal(err.$metadata.httpStatusCode, 500);
      assert.equal(err.name, 'InternalError');
      return true;
    });
    const res = await fetch(`${proxy.url}/${bucket}/injected-503`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /<Code>ServiceUnavailable<\/Code>/);

    assert.deepEqual(recordsFor(`/${bucket}/injected-500`).map((r) => [r.status, r.fault]), [[500, 'error500']]);
    assert.deepEqual(recordsFor(`/${bucket}/injected-503`).map((r) => [r.status, r.fault]), [[503, 'error503']]);
  });

  test('a reset request fails at the socket and is recorded as status 0', async () => {
    rule = (req) => (req.path.endsWith('/reset-me') ? 'reset' : null);
    await assert.rejects(fetch(`${proxy.url}/${bucket}/reset-me`), TypeError); // undici: "fetch failed"
    assert.deepEqual(recordsFor(`/${bucket}/reset-me`).map((r) => [r.status, r.fault]), [[0, 'reset']]);
  });

  test('the SDK default retry policy gets a PUT through a first-attempt 503', async () => {
    rule = (req) => (req.method === 'PUT' && req.path.endsWith('/retried.bin') && req.n === 1 ? 'error503' : null);
    const s3 = clientViaProxy(); // SDK defaults: standard mode, 3 attempts
    const body = randomBytes(10_000);
    const res = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'retried.bin', Body: body }));
    assert.equal(res.$metadata.attempts, 2);

    const path = `/${bucket}/retried.bin`;
    assert.deepEqual(recordsFor(path).map((r) => [r.method, r.status]), [['PUT', 503], ['PUT', 200]]);
    assert.deepEqual(proxy.countSuccessfulPuts(path), new Map([[path, 1]]));

    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'retried.bin' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
  });

  test('the SDK retries a PUT whose first attempt is reset', async () => {
    rule = (req) => (req.method === 'PUT' && req.path.endsWith('/after-reset.bin') && req.n === 1 ? 'reset' : null);
    const s3 = clientViaProxy();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'after-reset.bin', Body: 'hello' }));
    assert.deepEqual(recordsFor(`/${bucket}/after-reset.bin`).map((r) => r.status), [0, 200]);
  });

  test('streams a 64 MiB body through intact, both ways', async () => {
    rule = () => null;
    const s3 = clientViaProxy();
    const hash = createHash('sha256');
    const chunks = function* () {
      for (let i = 0; i < 64; i++) {
        const chunk = randomBytes(MiB);
        hash.update(chunk);
        yield chunk;
      }
    };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'stream.bin', Body: Readable.from(chunks()), ContentLength: 64 * MiB }));
    const sent = hash.digest('hex');

    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'stream.bin' }));
    const received = createHash('sha256');
    for await (const chunk of got.Body as Readable) received.update(chunk);
    assert.equal(received.digest('hex'), sent);
    assert.deepEqual(proxy.countSuccessfulPuts(`/${bucket}/stream`), new Map([[`/${bucket}/stream.bin`, 1]]));
  });
});

describe('fault proxy: a client that dies before the answer', () => {
  /** Resolves when `watch` reports a PUT: the moment the client is to give up. */
  const signal = () => {
    let fire: () => void = () => undefined;
    const fired = new Promise<void>((resolve) => (fire = resolve));
    return { fired, on: (r: { method: string }) => void (r.method === 'PUT' && fire()) };
  };
  /** A signed 4 KiB PUT through `endpoint`, abandoned by its client once `giveUp` resolves. */
  async function abandonedPut(endpoint: string, bucket: string, key: string, giveUp: Promise<void>): Promise<Buffer> {
    const s3 = s3ClientFor({ ...servers.s3, endpoint }, { maxAttempts: 1 });
    after(() => s3.destroy());
    const body = randomBytes(4096);
    const abort = new AbortController();
    const put = s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }), { abortSignal: abort.signal });
    void giveUp.then(() => abort.abort());
    await assert.rejects(put);
    return body;
  }
  const settled = async (proxy: FaultProxy, n: number) => {
    for (let i = 0; i < 250 && proxy.stats.requests.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    return proxy.stats.requests.map((r) => [r.method, r.path, r.status, r.serverStatus]);
  };
  const direct = s3ClientFor(servers.s3);
  after(() => direct.destroy());
  const stored = (bucket: string, key: string) =>
    direct.send(new GetObjectCommand({ Bucket: bucket, Key: key })).then(
      async (got) => Buffer.from(await got.Body!.transformToByteArray()),
      () => null,
    );

  test('once forwarded, the request goes on: the server stores it, and it is counted as stored', async () => {
    const bucket = await createTestBucket(servers.s3, 'fault-dead');
    // client -> front (forwards at once) -> a link that hangs -> S3: the client gives up once
    // the front proxy has passed the whole body on, and only then does the link deliver it.
    const slow = await startFaultProxy({ target: servers.s3.endpoint, hold: (r) => r.method === 'PUT' });
    const forwarded = signal();
    const front = await startFaultProxy({ target: slow.url, onForwarded: forwarded.on });
    after(() => Promise.all([front.close(), slow.close()]));
    const body = await abandonedPut(front.url, bucket, 'orphan.bin', forwarded.fired);
    slow.release();

    const path = `/${bucket}/orphan.bin`;
    assert.deepEqual(await settled(front, 1), [['PUT', path, 0, 200]]);
    assert.deepEqual(front.countSuccessfulPuts(path), new Map([[path, 1]]));
    assert.deepEqual(await stored(bucket, 'orphan.bin'), body);
  });

  test('while it waits on a slow link, the request dies with its client: never stored, never counted', async () => {
    const bucket = await createTestBucket(servers.s3, 'fault-dead');
    const arrived = signal();
    const slow = await startFaultProxy({ target: servers.s3.endpoint, hold: (r) => (arrived.on(r), r.method === 'PUT') });
    after(() => slow.close());
    await abandonedPut(slow.url, bucket, 'never.bin', arrived.fired);

    const path = `/${bucket}/never.bin`;
    assert.deepEqual(await settled(slow, 1), [['PUT', path, 0, 0]]);
    slow.release(); // nothing is held any more: the request died with its client
    assert.deepEqual(slow.countSuccessfulPuts(path), new Map());
    assert.equal(await stored(bucket, 'never.bin'), null);
  });
});
