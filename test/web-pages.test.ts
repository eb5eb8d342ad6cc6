/**
 * The web app's pages over plain HTTP (no browser), against the real API,
 * MongoDB and S3: the 404 page for unknown images, titles with HTML escaped in
 * the page and its link-preview tags, and which views may sit in a frame.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newImageDoc } from '../shared/image-status.js';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';

let api: TestApi;

after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'web-pages');
});

const page = async (path: string) => {
  const res = await fetch(`${api.base}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), frame: res.headers.get('x-frame-options'), html: await res.text() };
};

/** The content of `<meta property|name="key" content="...">`, as written (still escaped). */
const metaContent = (html: string, key: string) => new RegExp(`<meta (?:property|name)="${key}" content="([^"]*)">`).exec(html)?.[1] ?? null;

describe('pages over plain HTTP', () => {
  test('an unknown image: the viewer and the embed page answer 404 with an HTML page that says so', async () => {
    for (const path of ['/v/NoSuchImage_0001', '/embed/NoSuchImage_0001', '/v/NoSuchImage_0001?embedded=1', '/v/not-an-id!', '/v/%3Cscript%3E']) {
      const res = await page(path);
      assert.equal(res.status, 404, path);
      assert.match(res.type ?? '', /^text\/html/, path);
      assert.match(res.html, /There is no image with this address\./, path);
      assert.doesNotMatch(res.html, /<script>|NoSuchImage/, `${path} echoes nothing of the address`);
    }
  });

  test('a title with HTML in it is escaped in the page, its title, its heading and its link-preview tags', async () => {
    const id = 'PagesEscape_0001';
    const title = `<script>alert("x")</script> & 'quotes' <img src=x onerror=alert(1)>`;
    await api.store.create(newImageDoc(id, { kind: 'upload', filename: 'a.jpg' }, title));
    const res = await page(`/v/${id}`);
    assert.equal(res.status, 200);
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &lt;img src=x onerror=alert(1)&gt;';
    assert.equal(/<title>([^<]*)<\/title>/.exec(res.html)?.[1], `${escaped} · hugemap`);
    assert.equal(/<h1>([^<]*)<\/h1>/.exec(res.html)?.[1], escaped);
    assert.equal(metaContent(res.html, 'og:title'), escaped);
    assert.equal(metaContent(res.html, 'twitter:title'), escaped);
    // Nothing of the title became markup: the page's own scripts are the only ones, and no <img> tag exists.
    assert.doesNotMatch(res.html, /<script>alert|<img /);
    const scripts = res.html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts.filter((tag) => !/^<script (?:type="application\/json" id="page-data"|src="\/[^"<>]+"|type="module" src="\/[^"<>]+")>$/.test(tag)), [], 'only the page\'s own scripts');
    // The page data holds the title as JSON that cannot close its <script>.
    const data = /<script type="application\/json" id="page-data">([^]*?)<\/script>/.exec(res.html)?.[1] ?? '';
    assert.equal((JSON.parse(data) as { image: { title: string } }).image.title, title);
  });

  test('link-preview tags are absolute URLs of this server; an image not done yet has no preview image', async () => {
    const id = 'PagesQueued_0001';
    await api.store.create(newImageDoc(id, { kind: 'upload', filename: 'harbour.jpg' }, null));
    const res = await page(`/v/${id}`);
    assert.equal(res.status, 200);
    assert.equal(metaContent(res.html, 'og:url'), `${api.base}/v/${id}`);
    assert.equal(metaContent(res.html, 'og:title'), 'harbour.jpg', 'the file name when there is no title');
    assert.equal(metaContent(res.html, 'og:image'), null);
    assert.equal(metaContent(res.html, 'twitter:card'), 'summary');
    assert.match(res.html, new RegExp(`<link rel="canonical" href="${api.base.replace(/[.]/g, '\\.')}/v/${id}">`));
  });

  test('the normal view may not be framed at all; the embedded view by anyone', async () => {
    const id = 'PagesFrames_0001';
    await api.store.create(newImageDoc(id, { kind: 'upload', filename: 'f.jpg' }, 'Framed'));
    const normal = await page(`/v/${id}`);
    assert.equal(normal.status, 200);
    // frame-ancestors 'none' (the CSP, test/web-security.test.ts) and its older twin.
    assert.equal(normal.frame, 'DENY');
    const embedded = await page(`/v/${id}?embedded=1`);
    assert.equal(embedded.status, 200);
    assert.equal(embedded.frame, null, 'an embed code puts it in another site\'s iframe');
    assert.match(embedded.html, /<body class="viewer embedded">/);
    assert.doesNotMatch(embedded.html, /class="topbar"/, 'no site navigation inside someone else\'s page');
    // The embed page itself (the snippet builder) is a normal page of this site.
    const builder = await page(`/embed/${id}`);
    assert.equal(builder.status, 200);
    assert.match(builder.html, new RegExp(`/v/${id}`));
  });
});
