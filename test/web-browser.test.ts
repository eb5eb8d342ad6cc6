/**
 * The web app in a real browser (Debian's chromium via playwright-core) against
 * the real stack: API + worker in-process, Redis, FerretDB and MinIO.
 * Upload (drag-and-drop, URL, refusals), viewer tiles, permalink, annotations,
 * embed and gallery. Screenshots land in test-artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import { collectPageErrors, hasChromium, launchBrowser, screenshot } from './helpers/browser.js';
import { startApiServer, type ApiServer } from '../services/api/server.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';

const servers = await useTestServers();
const WAIT = { timeout: 20_000 };

/** A labelled grid, so a screenshot shows at once whether tiles sit in the right place. */
async function gridImage(width: number, height: number, hue: number): Promise<Buffer> {
  const cells: string[] = [];
  for (let y = 0; y < height; y += 250) {
    for (let x = 0; x < width; x += 250) {
      const light = 35 + (((x + y) / 250) % 2) * 25;
      cells.push(`<rect x="${x}" y="${y}" width="250" height="250" fill="hsl(${hue},60%,${light}%)"/>`);
      cells.push(`<text x="${x + 20}" y="${y + 60}" font-size="40" font-family="sans-serif" fill="#fff">${x},${y}</text>`);
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${cells.join('')}
    <rect x="2" y="2" width="${width - 4}" height="${height - 4}" fill="none" stroke="#ff0" stroke-width="4"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}

/** Drops files on the upload page's drop zone, as a person dragging them from the desktop would. */
async function dropFiles(page: Page, files: Array<{ name: string; type: string; bytes: Buffer }>): Promise<void> {
  const payload = files.map((f) => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') }));
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
      // A fixed lastModified, like a real file on disk: tus-js-client's resume fingerprint includes it.
      dt.items.add(new File([bytes], f.name, { type: f.type, lastModified: 1_700_000_000_000 }));
    }
    return dt;
  }, payload);
  await page.dispatchEvent('#dropzone', 'dragover', { dataTransfer });
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer });
}

/** Waits for the upload list item of `name` to reach a terminal state and returns what it shows. */
async function itemResult(page: Page, name: string) {
  const item = page.locator('.item', { has: page.locator('.item-head strong', { hasText: name }) });
  await item.and(page.locator('[data-state]')).waitFor({ timeout: 60_000 });
  return item.evaluate((li) => ({
    state: (li as HTMLElement).dataset.state,
    imageId: (li as HTMLElement).dataset.imageId ?? null,
    bars: [...li.querySelectorAll('progress')].map((p) => (p as HTMLProgressElement).value),
    barStates: [...li.querySelectorAll('.bar')].map((b) => (b as HTMLElement).dataset.state ?? null),
    message: li.querySelector('.item-message')?.textContent ?? '',
    link: li.querySelector('a.view-link')?.getAttribute('href') ?? null,
  }));
}

interface TileInfo {
  src: string;
  level: number;
  x: number;
  y: number;
  width: number;
  naturalWidth: number;
  left: number;
  right: number;
}

/** Sets the zoom, waits for the tile layer to finish, and describes the loaded tiles of the current level. */
async function zoomAndCollect(page: Page, zoom: number): Promise<{ tiles: TileInfo[]; imageLeft: number; imageRight: number }> {
  await page.evaluate((z) => (window as any).hugemapMap.setZoom(z, { animate: false }), zoom);
  await page.waitForFunction((z) => {
    const w = window as any;
    return w.hugemapMap.getZoom() === z && !w.hugemapTiles.isLoading();
  }, zoom, WAIT);
  return page.evaluate(() => {
    const w = window as any;
    const map = w.hugemapMap;
    const box = map.getContainer().getBoundingClientRect();
    const level = Math.min(Math.round(map.getZoom()), w.hugemapTiles.options.maxNativeZoom);
    const tiles = [...document.querySelectorAll('img.leaflet-tile-loaded')]
      .map((img) => img as HTMLImageElement)
      .filter((img) => Number(img.dataset.level) === level)
      .map((img) => {
        const m = /\/(\d+)\/(\d+)_(\d+)\.\w+$/.exec(img.src)!;
        const r = img.getBoundingClientRect();
        return { src: img.src, level: Number(m[1]), x: Number(m[2]), y: Number(m[3]), width: parseFloat(img.style.width), naturalWidth: img.naturalWidth, left: r.left - box.left, right: r.right - box.left };
      });
    const left = map.latLngToContainerPoint([0, 0]).x;
    const right = map.latLngToContainerPoint([0, w.hugemapTiles._dz.width]).x;
    return { tiles, imageLeft: left, imageRight: right };
  });
}

describe('web app in a real browser', { skip: hasChromium() ? false : 'no /usr/bin/chromium' }, () => {
  let api: ApiServer;
  let worker: RunningWorker;
  let browser: Browser;
  let context: BrowserContext;
  let origin: http.Server;
  let originUrl: string;
  const images: { dropped?: string; fetched?: string } = {};
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
    const config = await testConfig(servers, 'web', { FETCH_ALLOW_HOSTS: `127.0.0.1:${port}`, MAX_PIXELS: '2000000' });
    api = await startApiServer(config, {});
    worker = await startWorker(config);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await worker?.close();
    await api?.close();
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
    images.dropped = dropped.imageId!;
    images.fetched = fetched.imageId!;
    await screenshot(page, '01-upload-done');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a reload in the middle of an upload: dropping the same file again resumes from the stored offset', async () => {
    // A real JPEG followed by 12 MiB of trailing bytes (decoders stop at the end-of-image marker).
    const bytes = Buffer.concat([await gridImage(1200, 800, 280), Buffer.alloc(12 * 1024 * 1024, 7)]);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    // About 4 MiB/s up, so the reload lands mid-upload.
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * 1024 * 1024 });
    await page.goto(`${api.url}/`);
    await dropFiles(page, [{ name: 'resumable.jpg', type: 'image/jpeg', bytes }]);
    await page.waitForFunction(() => {
      const p = document.querySelector('.item progress') as HTMLProgressElement | null;
      return p !== null && p.value > 0.6;
    }, null, WAIT);
    await page.reload();
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    const offsets: number[] = [];
    page.on('request', (req) => {
      if (req.method() === 'PATCH' && req.url().includes('/api/v1/uploads/')) offsets.push(Number(req.headers()['upload-offset']));
    });
    await dropFiles(page, [{ name: 'resumable.jpg', type: 'image/jpeg', bytes }]);
    const result = await itemResult(page, 'resumable.jpg');
    assert.equal(result.state, 'done', result.message);
    assert.equal(await page.locator('.item[data-resumed=true]').count(), 1, 'found the earlier upload');
    assert.ok(offsets.length > 0 && offsets[0]! > 5 * 1024 * 1024, `resumed at ${offsets[0]} of ${bytes.length}, not from 0`);
    const image = (await (await fetch(`${api.url}/api/v1/images/${result.imageId}`)).json()) as { bytes: number };
    assert.equal(image.bytes, bytes.length);
    await page.close();
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

  test('viewer: tiles at several levels, no 404s, no horizontal repeat, edge tiles at true size', async () => {
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    const tileStatuses: Array<[string, number]> = [];
    page.on('response', (res) => {
      if (res.url().includes('/tiles/')) tileStatuses.push([res.url(), res.status()]);
    });
    await page.goto(`${api.url}/v/${images.dropped}`);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    const og = await page.locator('meta[property="og:image"]').getAttribute('content');
    assert.equal(og, `${api.url}/tiles/${images.dropped}/thumbnail.jpg`);
    assert.equal(await page.locator('meta[name="twitter:card"]').getAttribute('content'), 'summary_large_image');
    await screenshot(page, '03-viewer-fit');

    const levelsSeen = new Set<number>();
    // maxLevel of 1500 x 1000 is 11; 12 over-zooms level 11.
    const cols: Record<number, number> = { 9: 2, 10: 3, 11: 6 };
    for (const zoom of [9, 10, 11, 12]) {
      const { tiles, imageLeft, imageRight } = await zoomAndCollect(page, zoom);
      assert.ok(tiles.length > 0, `tiles at zoom ${zoom}`);
      const srcs = tiles.map((t) => t.src);
      assert.equal(new Set(srcs).size, srcs.length, 'no tile drawn twice (no wrapping copies)');
      for (const t of tiles) {
        levelsSeen.add(t.level);
        assert.ok(t.x >= 0 && t.x < cols[t.level]!, `column ${t.x} exists at level ${t.level}`);
        assert.equal(t.width, t.naturalWidth, 'drawn at its true size');
        assert.ok(t.left >= imageLeft - 1 && t.right <= imageRight + 1, `tile ${t.src} inside the image [${imageLeft}, ${imageRight}]`);
      }
      if (zoom === 11) {
        await page.evaluate(() => (window as any).hugemapMap.panTo([500, 1400], { animate: false }));
        await page.waitForFunction(() => !(window as any).hugemapTiles.isLoading(), null, WAIT);
        const edge = await zoomAndCollect(page, 11);
        const last = edge.tiles.find((t) => t.x === 5);
        assert.ok(last, 'the last column is loaded');
        assert.equal(last.naturalWidth, W - 5 * 256);
        assert.equal(last.width, W - 5 * 256, 'edge tile not stretched to 256');
        await screenshot(page, '04-viewer-edge');
      }
    }
    assert.deepEqual([...levelsSeen].sort(), [10, 11, 9].sort());
    assert.ok(tileStatuses.length > 10);
    assert.deepEqual(tileStatuses.filter(([, s]) => s >= 400), [], 'no tile request failed');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('permalink: the view goes into the URL without adding history entries and is restored', async () => {
    const page = await context.newPage();
    await page.goto(`${api.url}/v/${images.dropped}`);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    const historyBefore = await page.evaluate(() => history.length);
    for (const [y, x] of [[200, 300], [400, 700], [300, 900]]) {
      await page.evaluate(([yy, xx]) => (window as any).hugemapMap.setView([yy, xx], 10.5, { animate: false }), [y, x]);
    }
    // Leaflet rounds the centre to whole screen pixels: a pixel or two of the image at this zoom.
    await page.waitForURL(/x=(899|900|901)&y=(299|300|301)&z=10\.5$/, WAIT);
    assert.equal(await page.evaluate(() => history.length), historyBefore, 'replaceState, not pushState');
    const url = page.url();
    const inUrl = new URL(url).searchParams;
    const [ux, uy] = [Number(inUrl.get('x')), Number(inUrl.get('y'))];

    const restored = await context.newPage();
    await restored.goto(url);
    await restored.waitForSelector('body[data-ready=true]', WAIT);
    const view = await restored.evaluate(() => {
      const map = (window as any).hugemapMap;
      return { x: map.getCenter().lng, y: map.getCenter().lat, z: map.getZoom() };
    });
    assert.equal(view.z, 10.5);
    assert.ok(Math.abs(view.x - ux) <= 1 && Math.abs(view.y - uy) <= 1, JSON.stringify({ view, ux, uy }));
    await screenshot(restored, '05-permalink-restored');
    await restored.close();
    await page.close();
  });

  test('annotations: each type drawn, saved in pixels, back in place after a reload, and hidden by the toggle', async () => {
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    const viewUrl = `${api.url}/v/${images.dropped}?x=750&y=500&z=9.5`;
    await page.goto(viewUrl);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    const screen = (x: number, y: number) =>
      page.evaluate(([xx, yy]) => {
        const map = (window as any).hugemapMap;
        const box = map.getContainer().getBoundingClientRect();
        const p = map.latLngToContainerPoint([yy, xx]);
        return { x: box.left + p.x, y: box.top + p.y };
      }, [x, y]);
    const clickAt = async (x: number, y: number) => {
      const p = await screen(x, y);
      await page.mouse.move(p.x, p.y);
      await page.mouse.click(p.x, p.y);
      return p;
    };
    const draw = async (tool: string, points: Array<[number, number]>, finish: 'none' | 'button' | 'first', title: string) => {
      await page.click(`.leaflet-pm-icon-${tool}`);
      for (const [x, y] of points) await clickAt(x, y);
      if (finish === 'button') await page.click('.button-container.active .action-finish');
      if (finish === 'first') await clickAt(points[0]![0], points[0]![1]);
      const form = page.locator('.leaflet-popup .annotation-form');
      await form.waitFor(WAIT);
      await form.locator('input[name=title]').fill(title);
      await form.locator('textarea[name=comment]').fill(`about ${title}`);
      await form.locator('button[type=submit]').click();
      await form.locator('text=saved').waitFor(WAIT);
      await page.evaluate(() => {
        const map = (window as any).hugemapMap;
        map.pm.disableDraw();
        map.closePopup();
      });
      // Leaflet fades a closed popup out before removing it.
      await page.locator('.leaflet-popup').waitFor({ state: 'detached', ...WAIT });
    };
    await draw('marker', [[300, 250]], 'none', 'Lighthouse');
    await draw('polyline', [[100, 800], [500, 700], [700, 900]], 'button', 'Pier');
    await draw('rectangle', [[900, 100], [1200, 300]], 'none', 'Warehouse');
    await draw('circle-marker'.replace('-marker', ''), [[1100, 700], [1250, 700]], 'none', 'Basin');
    await draw('polygon', [[400, 400], [600, 420], [500, 600]], 'first', 'Island');
    await screenshot(page, '06-annotations-drawn');

    const stored = await (await fetch(`${api.url}/api/v1/images/${images.dropped}/annotations`)).json() as { items: any[] };
    const byTitle = Object.fromEntries(stored.items.map((a) => [a.title, a]));
    assert.deepEqual(stored.items.map((a) => a.type).sort(), ['circle', 'line', 'marker', 'polygon', 'rectangle']);
    const near = (got: number[], want: number[], what: string) =>
      assert.ok(got.every((v, i) => Math.abs(v - want[i]!) <= 4), `${what}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    near(byTitle.Lighthouse.points[0], [300, 250], 'marker');
    assert.equal(byTitle.Lighthouse.comment, 'about Lighthouse');
    assert.equal(byTitle.Pier.points.length, 3);
    byTitle.Pier.points.forEach((p: number[], i: number) => near(p, [[100, 800], [500, 700], [700, 900]][i]!, 'line'));
    near([...byTitle.Warehouse.points[0], ...byTitle.Warehouse.points[1]], [900, 100, 1200, 300], 'rectangle');
    near(byTitle.Basin.points[0], [1100, 700], 'circle centre');
    assert.ok(Math.abs(byTitle.Basin.radius - 150) <= 4, `radius ${byTitle.Basin.radius}`);
    assert.equal(byTitle.Island.points.length, 3);
    byTitle.Island.points.forEach((p: number[], i: number) => near(p, [[400, 400], [600, 420], [500, 600]][i]!, 'polygon'));

    // Reload at the same view: every shape's DOM box must sit where it was drawn on screen.
    await page.goto(viewUrl);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    const boxes = await page.evaluate(() => {
      const group = (window as any).hugemapAnnotations;
      const out: Record<string, { left: number; top: number; right: number; bottom: number }> = {};
      group.eachLayer((layer: any) => {
        const node = layer._icon ?? layer._path;
        const r = node.getBoundingClientRect();
        out[layer.options.annotationType] = { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
      });
      return out;
    });
    const expectBox = async (type: string, x0: number, y0: number, x1: number, y1: number, pad: number) => {
      const a = await screen(x0, y0);
      const b = await screen(x1, y1);
      const got = boxes[type]!;
      assert.ok(got, `${type} is back`);
      for (const [g, w] of [[got.left, a.x], [got.top, a.y], [got.right, b.x], [got.bottom, b.y]] as const) {
        assert.ok(Math.abs(g - w) <= pad, `${type} box ${JSON.stringify(got)} vs ${JSON.stringify([a, b])}`);
      }
    };
    // SVG boxes include half the stroke (3 px wide by default).
    await expectBox('rectangle', 900, 100, 1200, 300, 4);
    await expectBox('line', 100, 700, 700, 900, 4);
    await expectBox('polygon', 400, 400, 600, 600, 4);
    await expectBox('circle', 950, 550, 1250, 850, 4);
    const pin = await screen(300, 250);
    const marker = boxes.marker!;
    assert.ok(Math.abs((marker.left + marker.right) / 2 - pin.x) <= 2 && Math.abs(marker.bottom - pin.y) <= 2, 'the marker points where it was dropped');
    await screenshot(page, '07-annotations-reloaded');

    await page.uncheck('#toggle-annotations');
    assert.equal(await page.locator('.leaflet-overlay-pane path').count(), 0);
    assert.equal(await page.locator('.leaflet-marker-pane img').count(), 0);
    await page.check('#toggle-annotations');
    assert.equal(await page.locator('.leaflet-overlay-pane path').count(), 4);
    await page.locator('.leaflet-marker-pane img').click();
    await page.locator('.leaflet-popup input[name=title]').waitFor(WAIT);
    assert.equal(await page.locator('.leaflet-popup input[name=title]').inputValue(), 'Lighthouse');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('embed: preset and custom sizes build the snippet, and the iframe shows the minimal viewer', async () => {
    const page = await context.newPage();
    await page.goto(`${api.url}/embed/${images.dropped}`);
    const snippet = () => page.inputValue('#snippet');
    assert.match(await snippet(), /width="1024" height="768"/);
    await page.check('input[name=size][value="800x400"]');
    assert.match(await snippet(), /width="800" height="400"/);
    await page.fill('#custom-width', '640');
    await page.fill('#custom-height', '360');
    assert.match(await snippet(), /width="640" height="360"/);
    await page.check('input[name=size][value="480x320"]');
    await page.check('#hide-annotations');
    const html = await snippet();
    assert.match(html, new RegExp(`src="${api.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/v/${images.dropped}\\?embedded=1&amp;annotations=0"`));
    assert.match(html, /width="480" height="320"/);

    const frame = page.frameLocator('#preview iframe');
    await frame.locator('body[data-ready=true]').waitFor(WAIT);
    assert.equal(await frame.locator('.topbar').count(), 0, 'minimal chrome');
    assert.equal(await frame.locator('.leaflet-pm-toolbar').count(), 0, 'no drawing tools');
    assert.equal(await frame.locator('.leaflet-overlay-pane path').count(), 0, 'annotations hidden');
    assert.ok((await frame.locator('img.leaflet-tile-loaded').count()) > 0);
    await page.uncheck('#hide-annotations');
    await page.frameLocator('#preview iframe').locator('body[data-ready=true]').waitFor(WAIT);
    await page.frameLocator('#preview iframe').locator('.leaflet-overlay-pane path').first().waitFor(WAIT);
    await screenshot(page, '08-embed');
    await page.close();
  });

  test('works on a phone: no sideways scrolling, the map fills the screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const page = await phone.newPage();
      for (const [path, name] of [['/', '11-phone-upload'], [`/v/${images.dropped}`, '12-phone-viewer'], ['/gallery', '13-phone-gallery']] as const) {
        await page.goto(`${api.url}${path}`);
        if (path.startsWith('/v/')) await page.waitForSelector('body[data-ready=true]', WAIT);
        else await page.waitForLoadState('load');
        const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
        assert.ok(scrollWidth <= innerWidth, `${path}: ${scrollWidth} > ${innerWidth}`);
        if (path.startsWith('/v/')) {
          const box = await page.locator('#map').boundingBox();
          assert.ok(box && box.width >= 380 && box.height >= 500, JSON.stringify(box));
        }
        await screenshot(page, name);
      }
    } finally {
      await phone.close();
    }
  });

  test('gallery: infinite scroll, tag cloud and filter, edit title and tags, random, delete', async () => {
    const patch = (id: string, body: unknown) =>
      fetch(`${api.url}/api/v1/images/${id}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await patch(images.dropped!, { title: 'Harbour', tags: ['harbour', 'blue'] })).status, 200);
    assert.equal((await patch(images.fetched!, { title: 'Sunset', tags: ['blue'] })).status, 200);

    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/gallery?limit=1`);
    // One card per page: the others arrive only through the scroll sentinel.
    const listed = (await (await fetch(`${api.url}/api/v1/images?limit=10`)).json()) as { items: Array<{ id: string; title: string | null; filename: string | null }> };
    const expected = listed.items.map((i) => i.title ?? i.filename);
    assert.deepEqual([...expected].sort(), ['Harbour', 'Sunset', 'resumable.jpg', 'too-big.jpg']);
    await page.waitForFunction((n) => document.querySelectorAll('#grid .card').length >= n && document.getElementById('gallery-status')!.textContent === '', expected.length, WAIT);
    const titles = await page.locator('#grid .card-title').allTextContents();
    assert.deepEqual(titles, expected, 'newest first, each once');
    // The image refused for its pixel count (previous test) has a card that says why.
    assert.match(await page.locator('#grid .card .placeholder.failed').textContent() ?? '', /HUGEMAP_ERR_TOO_MANY_PIXELS/);
    await page.locator('#tag-cloud a[data-tag="harbour"]').waitFor(WAIT);
    assert.deepEqual(await page.locator('#tag-cloud a').allTextContents(), ['blue (2)', 'harbour (1)']);
    await screenshot(page, '09-gallery');

    await page.click('#tag-cloud a[data-tag="harbour"]');
    await page.waitForURL(/\/gallery\?tag=harbour$/, WAIT);
    await page.locator('#grid .card').first().waitFor(WAIT);
    assert.deepEqual(await page.locator('#grid .card-title').allTextContents(), ['Harbour']);

    await page.click('#grid .card .edit');
    await page.fill('.card-edit input[name=title]', 'Old harbour');
    await page.fill('.card-edit input[name=tags]', 'harbour, sea');
    await page.click('.card-edit button[type=submit]');
    await page.locator('#grid .card-title', { hasText: 'Old harbour' }).waitFor(WAIT);
    const edited = await (await fetch(`${api.url}/api/v1/images/${images.dropped}`)).json() as any;
    assert.equal(edited.title, 'Old harbour');
    assert.deepEqual(edited.tags, ['harbour', 'sea']);
    await screenshot(page, '10-gallery-filtered-edited');

    await page.goto(`${api.url}/gallery`);
    await page.click('#random');
    await page.waitForURL(/\/v\/[A-Za-z0-9_-]{10,64}$/, WAIT);
    const randomId = page.url().split('/v/')[1];
    assert.ok(listed.items.some((i) => i.id === randomId), `${randomId} is one of the images`);

    await page.goto(`${api.url}/gallery`);
    await page.locator('#grid .card').nth(3).waitFor(WAIT);
    page.once('dialog', (d) => void d.accept());
    await page.click(`#grid .card[data-id="${images.fetched}"] .delete`);
    await page.locator(`#grid .card[data-id="${images.fetched}"]`).waitFor({ state: 'detached', ...WAIT });
    assert.equal((await fetch(`${api.url}/api/v1/images/${images.fetched}`)).status, 404);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
