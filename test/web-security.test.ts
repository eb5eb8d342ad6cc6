/**
 * The web app's security headers and defences: helmet's headers on every
 * response (pages, JSON, errors, tiles, originals, static files), framing only
 * for the embeddable views, absolute URLs that a forged Host cannot change, a
 * real 404 page for browsers, and annotation titles shown as text (defect 1 of
 * the access issue: Leaflet's bindTooltip(string) rendered them as HTML).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, skipWithoutChromium, screenshot } from './helpers/browser.js';
import { WAIT, gridImage, startWebStack, uploadAndWait, type WebStack } from './helpers/web-stack.js';
import { startApiServer } from '../services/api/server.js';

const servers = await useTestServers();

/** A GET with headers fetch() will not send as given (Host). */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

const cspOf = (res: Response) => {
  const header = res.headers.get('content-security-policy') ?? '';
  return Object.fromEntries(header.split(';').map((d) => d.trim().split(/\s+/)).filter((p) => p[0]).map(([k, ...v]) => [k!, v]));
};

describe('security headers, absolute URLs and the 404 page', () => {
  let stack: WebStack;
  let base: string;
  let id: string;

  before(async () => {
    stack = await startWebStack(servers, 'web-security');
    base = stack.api.url;
    const image = await uploadAndWait(base, await gridImage(600, 400, 90), 'harbour.jpg');
    assert.equal(image.status, 'done');
    id = image.id;
  });

  after(async () => {
    await stack?.close();
  });

  test('pages: a CSP without inline scripts, no framing, nosniff and a Referrer-Policy', async () => {
    for (const path of ['/', '/gallery', `/v/${id}`, '/login', '/me']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      const csp = cspOf(res);
      assert.deepEqual(csp['script-src'], ["'self'"], `${path}: scripts from our own files only`);
      assert.deepEqual(csp['script-src-attr'], ["'none'"], `${path}: no inline handlers`);
      assert.deepEqual(csp['frame-ancestors'], ["'none'"], path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'same-origin', path);
      const html = await res.text();
      // Every <script> is a file or the JSON data block; no on*= attribute anywhere.
      const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)(?![^>]*type="application\/json")[^>]*>/g)].map((m) => m[0]);
      assert.deepEqual(inline, [], `${path}: inline scripts`);
      assert.doesNotMatch(html, /\son[a-z]+=/i, `${path}: inline event handlers`);
    }
  });

  test('the embeddable views may be framed by any site; the plain viewer may not', async () => {
    for (const path of [`/v/${id}?embedded=1`, `/embed/${id}`]) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 200, path);
      assert.deepEqual(cspOf(res)['frame-ancestors'], ['*'], path);
      assert.deepEqual(cspOf(res)['script-src'], ["'self'"], path);
      assert.equal(res.headers.get('x-frame-options'), null, path);
    }
    assert.deepEqual(cspOf(await fetch(`${base}/v/${id}`))['frame-ancestors'], ["'none'"]);
  });

  test('nosniff on every kind of response: JSON, errors, tiles, originals, static files', async () => {
    const paths = [
      `/api/v1/images/${id}`,
      '/api/v1/images/no-such-image-here',
      '/api/v1/nothing-here',
      `/tiles/${id}/thumbnail.jpg`,
      `/tiles/${id}/image_files/0/0_0.jpeg`,
      `/i/o/${id}.jpg`,
      '/static/js/common.js',
      '/static/nothing.js',
      '/healthz',
    ];
    for (const path of paths) {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path} (${res.status})`);
    }
    const missingFile = await fetch(`${base}/static/nothing.js`);
    assert.equal(missingFile.status, 404, 'a missing static file is 404, not 500');
    const post = await fetch(`${base}/api/v1/images`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' });
    assert.equal(post.status, 400);
    assert.equal(post.headers.get('x-content-type-options'), 'nosniff');
  });

  test('og:url, og:image and the canonical link come from the server, never from a forged Host header', async () => {
    const res = await rawGet(`${base}/v/${id}`, { Host: 'evil.example' });
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.body, /evil\.example/);
    assert.match(res.body, new RegExp(`<meta property="og:url" content="${base}/v/${id}">`));
    assert.match(res.body, new RegExp(`<meta property="og:image" content="${base}/tiles/${id}/thumbnail.jpg">`));
    assert.match(res.body, new RegExp(`<link rel="canonical" href="${base}/v/${id}">`));
    // "Open in IIIF viewer": the manifest, with the IIIF drag-and-drop parameter naming it.
    const manifest = `${base}/iiif/3/${id}/manifest.json`;
    assert.ok(res.body.includes(`id="iiif-manifest" href="${manifest}?manifest=${encodeURIComponent(manifest)}"`), 'the IIIF link');
    // X-Forwarded-Host counts only behind a trusted proxy (TRUST_PROXY), which this server is not told of.
    const forwarded = await rawGet(`${base}/v/${id}`, { 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'https' });
    assert.doesNotMatch(forwarded.body, /evil\.example/);
  });

  test('behind a trusted proxy (TRUST_PROXY), the forwarded host and scheme make the absolute URLs', async () => {
    // A second API on the same stores, told to trust the loopback proxy in front of it.
    const proxied = await startApiServer({ ...stack.config, trustProxy: 'loopback' }, {});
    try {
      const res = await rawGet(`${proxied.url}/v/${id}`, { Host: 'internal:8080', 'X-Forwarded-Host': 'maps.example.org', 'X-Forwarded-Proto': 'https' });
      assert.equal(res.status, 200);
      assert.match(res.body, new RegExp(`<meta property="og:url" content="https://maps\\.example\\.org/v/${id}">`));
      assert.match(res.body, new RegExp(`<meta property="og:image" content="https://maps\\.example\\.org/tiles/${id}/thumbnail.jpg">`));
      assert.doesNotMatch(res.body, /internal:8080/);
    } finally {
      await proxied.close();
    }
  });

  test('an unknown page is a real 404: an HTML page for browsers, the JSON error for API clients', async () => {
    const page = await fetch(`${base}/no/such/page`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(page.status, 404);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const html = await page.text();
    assert.match(html, /<h1>Not found<\/h1>/);
    assert.match(html, /class="topbar"/, 'with the header, so the visitor can go on');
    const json = await fetch(`${base}/no/such/page`);
    assert.equal(json.status, 404);
    assert.equal(((await json.json()) as any).error.code, 'HUGEMAP_ERR_NOT_FOUND');
    const apiRoute = await fetch(`${base}/api/v1/nothing`, { headers: { Accept: 'text/html' } });
    assert.equal(apiRoute.status, 404);
    assert.match(apiRoute.headers.get('content-type') ?? '', /json/, 'API paths keep JSON errors');
    const missingImage = await fetch(`${base}/v/AAAAAAAAAAAAAAAAAAAAAA`);
    assert.equal(missingImage.status, 404);
    assert.match(await missingImage.text(), /There is no image with this address/);
  });

  describe('in a real browser', { skip: skipWithoutChromium() }, () => {
    test('every page works under the CSP: no refused script, style or request', async () => {
      const page = await stack.context.newPage();
      const errors = collectPageErrors(page);
      for (const path of ['/', '/gallery', `/v/${id}`, `/v/${id}?embedded=1`, `/embed/${id}`, '/login', '/me']) {
        await page.goto(`${base}${path}`);
        if (path.startsWith('/v/')) await page.waitForSelector('body[data-ready=true]', WAIT);
        if (path.startsWith('/embed/')) await page.frameLocator('#preview iframe').locator('body[data-ready=true]').waitFor(WAIT);
      }
      // The API reference (swagger-ui) runs from its own files as well.
      await page.goto(`${base}/api/docs`);
      await page.locator('.swagger-ui .info .title').waitFor(WAIT);
      assert.deepEqual(errors, []);
      await page.close();
    });

    test('an annotation title with HTML shows as text, in the tooltip and the list, and runs nothing', async () => {
      const title = '<img src=x onerror="window.__xss=1"><b>bold</b>';
      const created = await fetch(`${base}/api/v1/images/${id}/annotations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'rectangle', points: [[100, 100], [300, 250]], title, comment: '<script>window.__xss=2</script>' }),
      });
      assert.equal(created.status, 201);
      for (const path of [`/v/${id}`, `/v/${id}?embedded=1`]) {
        const page = await stack.context.newPage();
        const errors = collectPageErrors(page);
        await page.goto(`${base}${path}`);
        await page.waitForSelector('body[data-ready=true]', WAIT);
        const shown = await page.evaluate(() => {
          const group = (window as any).hugemapAnnotations;
          const texts: Array<{ text: string; elements: number }> = [];
          group.eachLayer((layer: any) => {
            layer.openTooltip();
            const node = layer.getTooltip().getElement();
            texts.push({ text: node.textContent, elements: node.querySelectorAll('img, b, script').length });
            layer.openPopup();
            const popup = layer.getPopup().getElement();
            texts.push({ text: popup.querySelector('input[name=title]')?.value ?? popup.querySelector('h3')?.textContent, elements: popup.querySelectorAll('img, b, script').length });
          });
          return texts;
        });
        assert.deepEqual(shown, [{ text: title, elements: 0 }, { text: title, elements: 0 }], path);
        if (!path.includes('embedded')) {
          await page.click('#annotations-button');
          assert.deepEqual(await page.locator('#annotation-list .annotation-show').allTextContents(), [title]);
          assert.equal(await page.locator('#annotation-list img, #annotation-list b').count(), 0);
        }
        await screenshot(page, `xss-title-${path.includes('embedded') ? 'embedded' : 'viewer'}`);
        assert.equal(await page.evaluate(() => (window as any).__xss ?? null), null, `${path}: nothing ran`);
        assert.deepEqual(errors, [], path);
        await page.close();
      }
    });
  });
});
