/**
 * The upload page in a real browser (Debian's chromium via playwright-core)
 * against the real stack: drag-and-drop and URL uploads with both progress
 * bars, resuming after a reload, refusals with codes, phone layout.
 * Screenshots land in test-artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, screenshot, skipWithoutChromium } from './helpers/browser.js';
import { dropFiles, gridImage, itemResult, startWebStack, type WebStack } from './helpers/web-stack.js';
import { waitFor } from './helpers/test-config.js';

const servers = await useTestServers();

describe('upload page in a real browser', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let api: WebStack['api'];
  let context: WebStack['context'];
  let origin: http.Server;
  let originUrl: string;
  const W = 1500;
  const H = 1000;

  before(async () => {
    const fetchedJpeg = await gridImage(900, 700, 20);
    origin = http.createServer((req, res) => {
      if (req.url !== '/sunset.jpg') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': fetchedJpeg.length }).end(fetchedJpeg);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const port = (origin.address() as AddressInfo).port;
    originUrl = `http://127.0.0.1:${port}/sunset.jpg`;
    stack = await startWebStack(servers, 'web-upload', { FETCH_ALLOW_HOSTS: `127.0.0.1:${port}`, MAX_PIXELS: '2000000' });
    ({ api, context } = stack);
  });

  after(async () => {
    await stack?.close();
    origin?.close();
  });

  test('upload by drag-and-drop and by URL: both bars reach done, then a link to the viewer', async () => {
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/`);
    await dropFiles(page, [{ name: 'harbour.jpg', type: 'image/jpeg', bytes: await gridImage(W, H, 210) }]);
    await page.fill('#url-input', originUrl);
    await page.click('#url-form button[type=submit]');

    const dropped = await itemResult(page, 'harbour.jpg');
    assert.equal(dropped.state, 'done', dropped.message);
    assert.deepEqual(dropped.bars, [1, 1]);
    assert.deepEqual(dropped.barStates, ['done', 'done']);
    assert.equal(dropped.link, `/v/${dropped.imageId}`);
    const fetched = await itemResult(page, originUrl);
    assert.equal(fetched.state, 'done', fetched.message);
    assert.deepEqual(fetched.bars, [1, 1]);
    assert.equal(fetched.link, `/v/${fetched.imageId}`);
    await screenshot(page, '01-upload-done');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a reload in the middle of an upload: dropping the same file again resumes from the stored offset', async () => {
    // A real JPEG followed by 12 MiB of trailing bytes (decoders stop at the end-of-image marker).
    const bytes = Buffer.concat([await gridImage(1200, 800, 280), Buffer.alloc(12 * 1024 * 1024, 7)]);
    // The page talks to the API through a proxy that passes on only the first 7 MiB of the first PATCH and
    // holds the rest: the reload lands mid-upload whatever the machine's speed (no throttling, no race).
    const cutAt = 7 * 1024 * 1024;
    const front = await stallingProxy(api.url, cutAt);
    const page = await context.newPage();
    try {
      let location: string | null = null;
      page.on('response', (res) => {
        if (res.request().method() === 'POST' && res.url().endsWith('/api/v1/uploads')) location = res.headers()['location'] ?? null;
      });
      await page.goto(`${front.url}/`);
      await dropFiles(page, [{ name: 'resumable.jpg', type: 'image/jpeg', bytes }]);
      await front.stalled;
      await page.reload();
      assert.ok(location, 'the upload was created');
      // The aborted PATCH settles on the server (what arrived is stored) once the proxy has dropped it.
      const stored = await waitFor('the server to store the interrupted part', async () => {
        const head = await fetch(new URL(location!, api.url), { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0' } });
        const offset = Number(head.headers.get('upload-offset'));
        return head.status === 200 && offset > 0 ? offset : undefined;
      }, 20_000, 100);
      assert.ok(stored >= 5 * 1024 * 1024 && stored <= cutAt, `stored ${stored} of the ${cutAt} bytes passed on`);

      const offsets: number[] = [];
      page.on('request', (req) => {
        if (req.method() === 'PATCH' && req.url().includes('/api/v1/uploads/')) offsets.push(Number(req.headers()['upload-offset']));
      });
      await dropFiles(page, [{ name: 'resumable.jpg', type: 'image/jpeg', bytes }]);
      const result = await itemResult(page, 'resumable.jpg');
      assert.equal(result.state, 'done', result.message);
      assert.equal(await page.locator('.item[data-resumed=true]').count(), 1, 'found the earlier upload');
      assert.equal(offsets[0], stored, `resumed at ${offsets[0]} of ${bytes.length}, where the server had stopped`);
      const image = (await (await fetch(`${api.url}/api/v1/images/${result.imageId}`)).json()) as { bytes: number };
      assert.equal(image.bytes, bytes.length);
    } finally {
      await page.close();
      await front.close();
    }
  });

  test('refused files and failed jobs show their error code', async () => {
    const page = await context.newPage();
    await page.goto(`${api.url}/`);
    await dropFiles(page, [
      { name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('hello') },
      { name: 'fake.jpg', type: 'image/jpeg', bytes: Buffer.from('not really a jpeg, just text\n'.repeat(40)) },
      { name: 'too-big.jpg', type: 'image/jpeg', bytes: await gridImage(2000, 1500, 120) },
    ]);
    const txt = await itemResult(page, 'notes.txt');
    assert.equal(txt.state, 'failed');
    assert.match(txt.message, /HUGEMAP_ERR_NOT_AN_IMAGE/);
    const fake = await itemResult(page, 'fake.jpg');
    assert.equal(fake.state, 'failed');
    assert.match(fake.message, /HUGEMAP_ERR_NOT_AN_IMAGE/, 'refused by the server after the bytes were sniffed');
    const big = await itemResult(page, 'too-big.jpg');
    assert.equal(big.state, 'failed');
    assert.deepEqual(big.barStates, ['done', 'failed']);
    assert.match(big.message, /HUGEMAP_ERR_TOO_MANY_PIXELS/);
    await screenshot(page, '02-upload-refused');
    await page.close();
  });

  test('works on a phone: no sideways scrolling', async () => {
    const phone = await stack.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const page = await phone.newPage();
      await page.goto(`${api.url}/`);
      await dropFiles(page, [{ name: 'phone.jpg', type: 'image/jpeg', bytes: await gridImage(W / 2, H / 2, 60) }]);
      assert.equal((await itemResult(page, 'phone.jpg')).state, 'done');
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
      assert.ok(scrollWidth <= innerWidth, `${scrollWidth} > ${innerWidth}`);
      await screenshot(page, '11-phone-upload');
    } finally {
      await phone.close();
    }
  });
});

/**
 * A proxy to the API for one browser page: everything passes through, except that the first tus PATCH
 * gets only its first `cutAt` bytes passed on (each flushed to the API) and then stalls; `stalled`
 * resolves at that moment. A client that goes away (a reload) drops its request to the API too, as a
 * broken connection would.
 */
async function stallingProxy(target: string, cutAt: number): Promise<{ url: string; stalled: Promise<void>; close(): Promise<void> }> {
  const to = new URL(target);
  let cutting = true;
  let markStalled: () => void = () => undefined;
  const stalled = new Promise<void>((resolve) => (markStalled = resolve));
  const server = http.createServer((req, res) => {
    const upstream = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (!(cutting && req.method === 'PATCH' && (req.url ?? '').startsWith('/api/v1/uploads/'))) return void req.pipe(upstream);
    cutting = false;
    let passed = 0;
    req.on('data', (chunk: Buffer) => {
      const part = chunk.subarray(0, Math.max(0, cutAt - passed));
      passed += part.length;
      if (passed < cutAt) return void upstream.write(part);
      req.pause();
      upstream.write(part, () => markStalled());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stalled,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
