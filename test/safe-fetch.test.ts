import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HugemapError } from '../shared/errors.js';
import { isForbiddenAddress } from '../shared/net/address-policy.js';
import { fetchToFile } from '../shared/net/fetch-to-file.js';
import { assertUrlAllowed, safeFetch, type SafeFetchOptions } from '../shared/net/safe-fetch.js';
import { checkRedirect } from '../shared/net/url-policy.js';
import { fakeLookup, readAll, rejectsWithCode, serveBody, startServer, type TestServer } from './helpers/http-fixtures.js';

const FORBIDDEN = 'HUGEMAP_ERR_URL_FORBIDDEN';
const FETCH_FAILED = 'HUGEMAP_ERR_URL_FETCH_FAILED';
const TOO_LARGE = 'HUGEMAP_ERR_UPLOAD_TOO_LARGE';
const MB = 1024 * 1024;

describe('isForbiddenAddress', () => {
  const table: [string, string | null][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.255', 'carrier-grade NAT'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['64:ff9b::a00:1', 'NAT64 private'],
    ['::127.0.0.1', 'reserved'], // IPv4-compatible, not mapped
    ['[::1]', 'loopback'],
    ['localhost', 'not an IP address'],
    ['0x7f.1', 'not an IP address'],
    ['', 'not an IP address'],
    // Public addresses stay allowed, including mapped/NAT64 forms of them.
    ['93.184.216.34', null],
    ['8.8.8.8', null],
    ['172.15.255.255', null],
    ['100.128.0.1', null],
    ['2606:4700::1111', null],
    ['2a00:1450:4001:82a::200e', null],
    ['::ffff:93.184.216.34', null],
    ['64:ff9b::808:808', null],
  ];
  for (const [ip, reason] of table) {
    test(`${ip || '(empty)'} -> ${reason ?? 'allowed'}`, () => assert.equal(isForbiddenAddress(ip), reason));
  }
});

describe('assertUrlAllowed', () => {
  const refused = [
    'file:///etc/passwd',
    'ftp://example.com/a.png',
    'gopher://example.com/',
    'http://127.0.0.1:8080/',
    'http://localhost/',
    'http://[::1]/',
    'http://169.254.169.254/latest/meta-data',
    'http://10.1.2.3/',
    'http://0x7f000001/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0177.0.0.1/',
    'http://[::ffff:7f00:1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://user:pass@example.com/',
    'http://user@example.com/',
    'http://example.com:25/',
    'not a url',
  ];
  const lookup = fakeLookup({ 'example.com': [['93.184.216.34']], localhost: [['127.0.0.1', '::1']] });
  for (const url of refused) {
    test(`refuses ${url}`, () => rejectsWithCode(assertUrlAllowed(url, { lookup }), FORBIDDEN));
  }

  test('refuses a hostname that resolves to a private address, naming the rule and not the address', async () => {
    const refused = assertUrlAllowed('http://intranet.example/', { lookup: fakeLookup({ 'intranet.example': [['10.0.0.5']] }) });
    await rejectsWithCode(refused, FORBIDDEN, /intranet\.example resolves to a private address/);
    await assert.rejects(refused, (err: Error) => !err.message.includes('10.0.0.5'));
  });

  test('refuses a hostname whose answers mix public and private addresses', () =>
    rejectsWithCode(
      assertUrlAllowed('https://mixed.example/x.png', { lookup: fakeLookup({ 'mixed.example': [['93.184.216.34', '192.168.0.7']] }) }),
      FORBIDDEN,
      /resolves to a private address$/,
    ));

  test('refuses the real system resolver answer for localhost', () => rejectsWithCode(assertUrlAllowed('http://localhost:8080/', {}), FORBIDDEN));

  test('allows a hostname with only public addresses and returns the parsed URL', async () => {
    const url = await assertUrlAllowed('https://cdn.example/big.tif?sig=1', { lookup: fakeLookup({ 'cdn.example': [['93.184.216.34', '2606:4700::1111']] }) });
    assert.equal(url.href, 'https://cdn.example/big.tif?sig=1');
  });

  test('allows an allow-listed loopback host:port, and only that port', async () => {
    const url = await assertUrlAllowed('http://127.0.0.1:9000/a.png', { allowHosts: ['127.0.0.1:9000'] });
    assert.equal(url.port, '9000');
    await rejectsWithCode(assertUrlAllowed('http://127.0.0.1:9001/a.png', { allowHosts: ['127.0.0.1:9000'] }), FORBIDDEN);
  });

  test('an unresolvable host is a fetch failure, not a refusal', () =>
    rejectsWithCode(assertUrlAllowed('http://nowhere.invalid/', { lookup: fakeLookup({}) }), FETCH_FAILED, /cannot resolve/));
});

describe('checkRedirect', () => {
  const from = new URL('https://a.example/dir/page');
  test('resolves a relative Location against the current URL', () =>
    assert.equal(checkRedirect(from, '../img/x.png?v=2', {}).href, 'https://a.example/img/x.png?v=2'));
  test('refuses an https -> http downgrade', () =>
    assert.throws(() => checkRedirect(from, 'http://a.example/x', {}), (e: HugemapError) => e.code === FORBIDDEN && /downgrades/.test(e.message)));
  test('refuses a redirect to file:', () => assert.throws(() => checkRedirect(from, 'file:///etc/passwd', {}), (e: HugemapError) => e.code === FORBIDDEN));
});

describe('safeFetch against loopback servers', () => {
  const body = randomBytes(6 * MB);
  let main: TestServer;
  let other: TestServer; // a second loopback service that is NOT allow-listed
  let opts: SafeFetchOptions;

  before(async () => {
    other = await startServer((_req, res) => res.end('internal secret'));
    main = await startServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/big') return serveBody(body)(req, res);
      if (path === '/hop1') return res.writeHead(302, { Location: '/hop2' }).end();
      if (path === '/hop2') return res.writeHead(301, { Location: `${main.origin}/big` }).end();
      if (path === '/to-internal') return res.writeHead(302, { Location: `${other.origin}/` }).end();
      if (path === '/to-metadata') return res.writeHead(307, { Location: 'http://169.254.169.254/latest/meta-data' }).end();
      if (path === '/loop') return res.writeHead(302, { Location: '/loop' }).end();
      if (path === '/huge-declared') return res.writeHead(200, { 'Content-Length': 50 * MB }).flushHeaders(); // never sends the body
      if (path === '/huge-chunked') {
        res.writeHead(200); // no Content-Length: chunked
        const chunk = Buffer.alloc(64 * 1024, 1);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      if (path === '/stall-headers') return; // never answers
      if (path === '/stall-body') return void res.writeHead(200, { 'Content-Length': 1000 }).write('x'.repeat(10));
      if (path === '/busy') return void res.writeHead(503).end('later');
      res.writeHead(404).end('no');
    });
    opts = { allowHosts: [main.hostPort], maxBytes: 16 * MB, timeoutMs: 5000 };
  });
  after(async () => {
    await main.close();
    await other.close();
  });

  test('streams a 200 body byte for byte', async () => {
    const res = await safeFetch(`${main.origin}/big`, opts);
    assert.equal(res.status, 200);
    assert.equal(res.contentLength, body.length);
    assert.equal(res.contentType, 'application/octet-stream');
    assert.equal(res.resumed, false);
    const got = await readAll(res.stream);
    assert.ok(got.equals(body), 'body differs from what was served');
  });

  test('refuses a declared Content-Length over maxBytes before reading the body', () =>
    rejectsWithCode(safeFetch(`${main.origin}/huge-declared`, opts), TOO_LARGE));

  test('aborts a chunked body once it passes maxBytes', async () => {
    const res = await safeFetch(`${main.origin}/huge-chunked`, { ...opts, maxBytes: 1 * MB });
    assert.equal(res.contentLength, null);
    await rejectsWithCode(readAll(res.stream), TOO_LARGE);
  });

  test('follows a two-hop redirect chain (relative then absolute)', async () => {
    const res = await safeFetch(`${main.origin}/hop1`, opts);
    assert.equal(res.finalUrl, `${main.origin}/big`);
    assert.ok((await readAll(res.stream)).equals(body));
  });

  test('refuses a redirect from an allowed host to a non-allow-listed loopback port', async () => {
    const before = other.requests.length;
    await rejectsWithCode(safeFetch(`${main.origin}/to-internal`, opts), FORBIDDEN, /loopback/);
    assert.equal(other.requests.length, before, 'the internal server must never be contacted');
  });

  test('refuses a redirect to the metadata address', () => rejectsWithCode(safeFetch(`${main.origin}/to-metadata`, opts), FORBIDDEN, /metadata/));

  test('stops a redirect loop after maxRedirects', async () => {
    const before = main.requests.length;
    await rejectsWithCode(safeFetch(`${main.origin}/loop`, { ...opts, maxRedirects: 3 }), FETCH_FAILED, /too many redirects/);
    assert.equal(main.requests.length - before, 4, 'the first request plus 3 followed redirects');
  });

  test('a 404 is a fetch failure naming the status', () => rejectsWithCode(safeFetch(`${main.origin}/missing`, opts), FETCH_FAILED, /404/));

  test('a server that never answers times out', () =>
    rejectsWithCode(safeFetch(`${main.origin}/stall-headers`, { ...opts, timeoutMs: 300 }), FETCH_FAILED, /timed out/));

  test('a body that stalls midway times out on the stream', async () => {
    const res = await safeFetch(`${main.origin}/stall-body`, { ...opts, timeoutMs: 5000, idleTimeoutMs: 300 });
    await rejectsWithCode(readAll(res.stream), FETCH_FAILED, /timed out/);
  });

  test('failures that may heal are retried by the worker, the others are not', async () => {
    const permanence = async (p: Promise<unknown>) => {
      const err = await p.then(() => assert.fail('expected a failure'), (e: unknown) => e);
      assert.ok(err instanceof HugemapError);
      assert.equal(err.code, FETCH_FAILED);
      return err.permanent;
    };
    assert.equal(await permanence(safeFetch(`${main.origin}/missing`, opts)), true, '404 will not heal');
    assert.equal(await permanence(safeFetch(`${main.origin}/busy`, opts)), false, '503 may heal');
    assert.equal(await permanence(safeFetch(`${main.origin}/stall-headers`, { ...opts, timeoutMs: 300 })), false, 'a timeout may heal');
    const closed = await startServer(() => undefined);
    await closed.close();
    assert.equal(await permanence(safeFetch(`${closed.origin}/`, { ...opts, allowHosts: [closed.hostPort] })), false, 'a refused connection may heal');
  });

  test('a connection refused is a fetch failure', async () => {
    const closed = await startServer(() => undefined);
    await closed.close();
    await rejectsWithCode(safeFetch(`${closed.origin}/`, { ...opts, allowHosts: [closed.hostPort] }), FETCH_FAILED, /ECONNREFUSED/);
  });

  test('checks the address actually dialled: a name resolving to loopback is refused at connect time', async () => {
    const lookup = fakeLookup({ 'images.example': [['127.0.0.1']] });
    await rejectsWithCode(safeFetch(`http://images.example:${main.port}/big`, { ...opts, lookup }), FORBIDDEN, /images\.example resolves to a loopback address$/);
  });

  test('DNS rebinding: a public answer at pre-check and loopback at connect is refused', async () => {
    const lookup = fakeLookup({ 'rebind.example': [['93.184.216.34'], ['127.0.0.1']] });
    const url = `http://rebind.example:${main.port}/big`;
    await assertUrlAllowed(url, { lookup }); // first answer: public, passes
    await rejectsWithCode(safeFetch(url, { ...opts, lookup }), FORBIDDEN, /rebind\.example resolves to a loopback address$/);
    assert.equal(lookup.calls.length, 2, 'the fetch must resolve again rather than trust the pre-check');
  });

  test('an allow-listed hostname connects through the injected lookup', async () => {
    const lookup = fakeLookup({ 'tiles.internal': [['127.0.0.1']] });
    const res = await safeFetch(`http://tiles.internal:${main.port}/big`, { ...opts, lookup, allowHosts: [`tiles.internal:${main.port}`] });
    assert.ok((await readAll(res.stream)).equals(body));
    assert.deepEqual(lookup.calls, ['tiles.internal']);
  });
});

describe('fetchToFile', () => {
  const body = randomBytes(3 * MB + 123);
  const half = Math.floor(body.length / 2);
  let dir: string;
  let ranged: TestServer;
  let ignoring: TestServer;
  let truncating: TestServer;
  let chunked: TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hugemap-fetch-'));
    ranged = await startServer(serveBody(body, { etag: '"v1"' }));
    ignoring = await startServer(serveBody(body, { honourRange: false }));
    chunked = await startServer((_req, res) => {
      res.writeHead(200); // no Content-Length
      res.end(body);
    });
    let first = true;
    truncating = await startServer((req, res) => {
      if (!first) return serveBody(body, { etag: '"v1"' })(req, res);
      first = false; // the first answer promises everything, sends half, then drops the connection
      res.writeHead(200, { 'Content-Length': body.length, ETag: '"v1"' });
      res.write(body.subarray(0, half), () => res.destroy());
    });
  });
  after(async () => {
    await Promise.all([ranged.close(), ignoring.close(), truncating.close(), chunked.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const optsFor = (server: TestServer) => ({ allowHosts: [server.hostPort], maxBytes: 16 * MB, timeoutMs: 5000 });

  test('resumes an existing .part with Range (206) and yields the whole file', async () => {
    const dest = join(dir, 'resumed.bin');
    await writeFile(`${dest}.part`, body.subarray(0, half));
    await writeFile(`${dest}.part.validator`, '"v1"');
    const progress: number[] = [];
    const result = await fetchToFile(`${ranged.origin}/f`, dest, { ...optsFor(ranged), onProgress: (n) => progress.push(n) });
    assert.equal(ranged.requests.at(-1)?.headers.range, `bytes=${half}-`);
    assert.equal(ranged.requests.at(-1)?.headers['if-range'], '"v1"');
    assert.equal(result.bytes, body.length);
    assert.ok((await readFile(dest)).equals(body), 'resumed file differs from the source');
    assert.ok(progress[0]! > half, 'progress counts the resumed bytes too');
    assert.equal(existsSync(`${dest}.part`), false);
  });

  test('a resource that changed since the .part was written (If-Range mismatch) is fetched whole', async () => {
    const dest = join(dir, 'changed.bin');
    await writeFile(`${dest}.part`, Buffer.alloc(half, 0xaa)); // bytes of an older version
    await writeFile(`${dest}.part.validator`, '"v0"');
    await fetchToFile(`${ranged.origin}/f`, dest, optsFor(ranged));
    assert.equal(ranged.requests.at(-1)?.headers['if-range'], '"v0"');
    assert.ok((await readFile(dest)).equals(body), 'old bytes must not be spliced into the new version');
  });

  test('restarts from zero when the server ignores Range (200)', async () => {
    const dest = join(dir, 'restarted.bin');
    await writeFile(`${dest}.part`, Buffer.alloc(half, 0xee)); // junk that must not survive
    const result = await fetchToFile(`${ignoring.origin}/f`, dest, optsFor(ignoring));
    assert.equal(ignoring.requests.at(-1)?.headers.range, `bytes=${half}-`);
    assert.equal(result.bytes, body.length);
    assert.ok((await readFile(dest)).equals(body), 'restarted file differs from the source');
  });

  test('a dropped connection keeps the .part, and the retry resumes it to the right file', async () => {
    const dest = join(dir, 'dropped.bin');
    await rejectsWithCode(fetchToFile(`${truncating.origin}/f`, dest, optsFor(truncating)), FETCH_FAILED);
    assert.equal(existsSync(dest), false, 'an incomplete download must not appear under its final name');
    // Whatever reached the disk before the drop is kept: a non-empty prefix of the body.
    const kept = await readFile(`${dest}.part`);
    assert.ok(kept.length > 0 && kept.length <= half, `kept ${kept.length} bytes`);
    assert.ok(kept.equals(body.subarray(0, kept.length)), 'the kept bytes must be a prefix of the body');
    await fetchToFile(`${truncating.origin}/f`, dest, optsFor(truncating));
    assert.equal(truncating.requests.at(-1)?.headers.range, `bytes=${kept.length}-`);
    assert.ok((await readFile(dest)).equals(body));
  });

  test('a .part that is already whole (416) starts over and still yields the file', async () => {
    const dest = join(dir, 'whole.bin');
    await writeFile(`${dest}.part`, body);
    await fetchToFile(`${ranged.origin}/f`, dest, optsFor(ranged));
    assert.ok((await readFile(dest)).equals(body));
  });

  test('too large: refused, and no partial file is left behind', async () => {
    const dest = join(dir, 'too-big.bin');
    await rejectsWithCode(fetchToFile(`${ranged.origin}/f`, dest, { ...optsFor(ranged), maxBytes: MB }), TOO_LARGE);
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(`${dest}.part`), false);
  });

  test('too large while streaming (no Content-Length): the partial file is removed', async () => {
    const dest = join(dir, 'too-big-chunked.bin');
    await rejectsWithCode(fetchToFile(`${chunked.origin}/f`, dest, { ...optsFor(chunked), maxBytes: MB }), TOO_LARGE);
    assert.equal(existsSync(`${dest}.part`), false);
    assert.equal(existsSync(dest), false);
  });
});
