/**
 * The viewer on an image that is still being tiled, in a real browser: it opens
 * on the preview, then the first-view levels once the status says they are in
 * S3, draws nothing deeper than those until the image is done, then every level. The status changes
 * are made through the real status store (FerretDB) and reach the page through
 * the API's event stream (Redis), as the worker's do.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, screenshot, skipWithoutChromium } from './helpers/browser.js';
import { StatusEvents } from '../shared/status-events.js';
import { StatusStore } from '../shared/status-store.js';
import { WAIT, dropFiles, gridImage, itemResult, startWebStack, uploadAndWait, zoomAndCollect, type WebStack } from './helpers/web-stack.js';

const servers = await useTestServers();

describe('viewer before the image is done', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  /** The status store as the worker uses it: every change is published to the API's event stream. */
  let store: StatusStore;
  let events: StatusEvents;
  let id: string;
  let original: Buffer;
  // 2100 px wide: 13 levels (0..12); level 11 (1050 px) is the first at least 1024 px, so the first view is levels 0..11.
  const W = 2100;
  const H = 900;
  const FIRST_VIEW_LEVEL = 11;
  const MAX_LEVEL = 12;

  before(async () => {
    stack = await startWebStack(servers, 'web-first-view');
    events = new StatusEvents(stack.config.redisUrl, stack.config.queuePrefix);
    store = await StatusStore.connect(stack.config.mongoUrl, { onChange: (doc) => events.publish(doc) });
    original = await gridImage(W, H, 160);
    const image = await uploadAndWait(stack.api.url, original, 'wide.jpg');
    assert.equal(image.status, 'done');
    id = image.id;
  });

  after(async () => {
    await store?.close();
    await events?.close();
    await stack?.close();
  });

  /** Puts the image back into a state a worker leaves it in mid-way (its tiles are all in S3 already, which the viewer must not ask for). */
  const setProcessing = (viewable: boolean, preview: boolean) =>
    store.update(
      id,
      { status: 'processing', stage: 'tile', progress: 0.6, 'tiles.viewable': viewable, 'tiles.done': 100, ...(preview ? { preview: { width: 1050, height: 450 } } : {}) },
      preview ? {} : { $unset: { preview: '' } },
    );
  const tileRequestsOf = (page: Page) => {
    const seen: Array<{ level: number; status: number; path: string }> = [];
    page.on('response', (res) => {
      // Any level string: a fractional one (Leaflet asked at a zoom between levels) must show up as a failure.
      const m = /\/tiles\/[^/]+\/image_files\/([^/]+)\//.exec(res.url());
      if (m) seen.push({ level: /^\d+$/.test(m[1]!) ? Number(m[1]) : NaN, status: res.status(), path: res.url().split('/image_files/')[1]! });
    });
    return seen;
  };
  const underlays = (page: Page) => page.locator('.leaflet-thumbnail-pane img').evaluateAll((imgs) => imgs.map((i) => ({ src: (i as HTMLImageElement).src.split('/').pop(), width: (i as HTMLImageElement).naturalWidth })));

  test('the worker stored a preview of the first-view level, and the API names both', async () => {
    const view = (await (await fetch(`${stack.api.url}/api/v1/images/${id}`)).json()) as any;
    assert.equal(view.tiles.firstViewLevel, FIRST_VIEW_LEVEL);
    assert.equal(view.links.preview, `/tiles/${id}/preview.jpg`);
    const preview = await fetch(new URL(view.links.preview, stack.api.url));
    assert.equal(preview.status, 200);
    assert.equal(preview.headers.get('content-type'), 'image/jpeg');
    const meta = await sharp(Buffer.from(await preview.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [1050, 450], 'the size of level 11');

    await setProcessing(true, true);
    // A link shared meanwhile: the preview is its card image.
    const page = await (await fetch(`${stack.api.url}/v/${id}`)).text();
    assert.match(page, new RegExp(`<meta property="og:image" content="${stack.api.url}/tiles/${id}/preview.jpg">`));
    const mid = (await (await fetch(`${stack.api.url}/api/v1/images/${id}`)).json()) as any;
    assert.deepEqual(mid.tiles, { done: 100, total: view.tiles.total, viewable: true, firstViewLevel: FIRST_VIEW_LEVEL });
    assert.equal(mid.format, 'jpeg');
    assert.equal(mid.links.dzi, null, 'the descriptor is stored last');
  });

  test('shows the preview, then the first-view tiles, then every level, without a reload and without asking for a tile not yet there', async () => {
    await setProcessing(false, false);
    // As a worker from before the format was reported at probe time left it: no format yet when the preview came.
    await store.update(id, { format: null });
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    const tileRequests = tileRequestsOf(page);
    await page.goto(`${stack.api.url}/v/${id}`);
    await page.locator('#viewer-message', { hasText: 'Processing: tile 60%' }).waitFor(WAIT);
    assert.equal(await page.locator('body[data-ready]').count(), 0, 'nothing to show yet');

    // The worker stores the preview: the whole image, no tiles.
    await store.update(id, { preview: { width: 1050, height: 450 } });
    await page.waitForSelector('body[data-ready=true][data-levels=preview]', WAIT);
    await page.waitForFunction(() => [...document.querySelectorAll('.leaflet-thumbnail-pane img')].some((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0), null, WAIT);
    assert.deepEqual(await underlays(page), [{ src: 'preview.jpg', width: 1050 }]);
    assert.equal(await page.locator('.leaflet-tile').count(), 0);
    await page.locator('#viewer-message', { hasText: 'Processing: tile 60% (full detail when done)' }).waitFor(WAIT);
    await screenshot(page, '15-viewer-preview');

    // The first-view levels are in S3: their tiles, and none deeper even zoomed in (level 11's, stretched).
    await store.update(id, { 'tiles.viewable': true, progress: 0.7, format: 'jpeg' });
    await page.waitForSelector('body[data-levels=first-view]', WAIT);
    for (const zoom of [MAX_LEVEL, MAX_LEVEL + 1]) {
      const { tiles } = await zoomAndCollect(page, zoom);
      assert.ok(tiles.length > 0, `tiles shown at zoom ${zoom}`);
      assert.ok(tiles.every((t) => t.level === FIRST_VIEW_LEVEL), `zoom ${zoom}: ${tiles.map((t) => t.src).join(', ')}`);
    }
    await screenshot(page, '16-viewer-first-view');
    assert.ok(tileRequests.length > 0);
    assert.deepEqual(tileRequests.filter((r) => r.level > FIRST_VIEW_LEVEL), [], 'no request for a level that may not be in S3 yet');

    // Done, while the view sits between two levels (as after a wheel zoom): the same page draws the
    // top level and gets the thumbnail and minimap, asking only for whole levels.
    await page.evaluate(() => (window as any).hugemapMap.setZoom(11.75, { animate: false }));
    await page.waitForFunction(() => !(window as any).hugemapTiles.isLoading(), null, WAIT);
    await store.update(id, { status: 'done', stage: 'done', progress: 1, 'tiles.done': 9999 });
    await page.waitForSelector('body[data-levels=all]', WAIT);
    await page.waitForFunction(() => !(window as any).hugemapTiles.isLoading(), null, WAIT);
    assert.ok(tileRequests.every((r) => Number.isInteger(r.level)), `whole levels only: ${tileRequests.filter((r) => !Number.isInteger(r.level)).map((r) => r.path).join(', ')}`);
    assert.ok((await page.locator('.leaflet-tile-loaded').count()) > 0, 'tiles drawn at 11.75');
    await page.waitForFunction(() => document.querySelectorAll('.leaflet-tile-pane .leaflet-layer').length === 1, null, WAIT);
    const { tiles } = await zoomAndCollect(page, MAX_LEVEL);
    assert.ok(tiles.length > 0 && tiles.every((t) => t.level === MAX_LEVEL), tiles.map((t) => t.src).join(', '));
    assert.equal(await page.locator('#viewer-message').isHidden(), true);
    assert.deepEqual((await underlays(page)).map((u) => u.src), ['preview.jpg', 'thumbnail.jpg']);
    assert.equal(await page.locator('.minimap').count(), 1);
    assert.deepEqual(tileRequests.filter((r) => r.status >= 400), [], 'no tile request failed');
    assert.ok(tileRequests.every((r) => r.path.endsWith('.jpeg')), tileRequests.map((r) => r.path).join(', '));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the gallery card of an image being processed shows its preview, and a placeholder without one', async () => {
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    const card = page.locator(`#grid .card[data-id="${id}"] .card-thumb`);
    await setProcessing(false, true);
    await page.goto(`${stack.api.url}/gallery`);
    await card.locator('img').waitFor(WAIT);
    assert.equal(await card.locator('img').getAttribute('src'), `/tiles/${id}/preview.jpg`);
    await setProcessing(false, false);
    await page.reload();
    await card.locator('.placeholder.processing').waitFor(WAIT);
    assert.equal(await card.locator('img').count(), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the upload page links the viewer as soon as there is a preview, and the final link once done', async () => {
    // The same bytes dropped again are the same image (content id): the page follows the image set back to processing.
    await setProcessing(false, true);
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${stack.api.url}/`);
    await dropFiles(page, [{ name: 'wide-again.jpg', type: 'image/jpeg', bytes: original }]);
    const early = page.locator('.item a.view-link-early');
    await early.waitFor(WAIT);
    assert.equal(await early.getAttribute('href'), `/v/${id}`);
    assert.equal(await page.locator('.item a.view-link').count(), 0, 'not done yet');
    await store.update(id, { status: 'done', stage: 'done', progress: 1 });
    const result = await itemResult(page, 'wide-again.jpg');
    assert.equal(result.state, 'done');
    assert.equal(result.link, `/v/${id}`);
    assert.equal(await early.count(), 0, 'the early link gives way to the final one');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('opened while the first-view tiles are already in S3, it shows them at once', async () => {
    await setProcessing(true, false);
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    const tileRequests = tileRequestsOf(page);
    await page.goto(`${stack.api.url}/v/${id}`);
    await page.waitForSelector('body[data-ready=true][data-levels=first-view]', WAIT);
    await page.waitForFunction(() => !(window as any).hugemapTiles.isLoading(), null, WAIT);
    assert.ok((await page.locator('.leaflet-tile-loaded').count()) > 0);
    assert.deepEqual(await underlays(page), [], 'no preview for this state, no thumbnail yet');
    assert.ok(tileRequests.every((r) => r.level <= FIRST_VIEW_LEVEL && r.status === 200), JSON.stringify(tileRequests));
    assert.deepEqual(errors, []);
    await page.close();
  });
});
