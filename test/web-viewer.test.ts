/**
 * The viewer, permalink, annotations, embed page and gallery in a real browser
 * (Debian's chromium via playwright-core) against the real stack. Images come
 * in through the API; the upload page has its own test file.
 * Screenshots land in test-artifacts/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, screenshot, skipWithoutChromium } from './helpers/browser.js';
import { WAIT, gridImage, startWebStack, uploadAndWait, zoomAndCollect, type WebStack } from './helpers/web-stack.js';

const servers = await useTestServers();

describe('viewer, embed and gallery in a real browser', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let api: WebStack['api'];
  let context: WebStack['context'];
  const images: { dropped?: string; fetched?: string } = {};
  const W = 1500;
  const H = 1000;

  before(async () => {
    stack = await startWebStack(servers, 'web-viewer', { MAX_PIXELS: '2000000' });
    ({ api, context } = stack);
    const harbour = await uploadAndWait(api.url, await gridImage(W, H, 210), 'harbour.jpg');
    const sunset = await uploadAndWait(api.url, await gridImage(900, 700, 20), 'sunset.jpg');
    // Over MAX_PIXELS: a failed image, whose gallery card must say why.
    const tooBig = await uploadAndWait(api.url, await gridImage(2000, 1500, 120), 'too-big.jpg');
    assert.deepEqual([harbour.status, sunset.status, tooBig.status], ['done', 'done', 'failed']);
    images.dropped = harbour.id;
    images.fetched = sunset.id;
  });

  after(async () => {
    await stack?.close();
  });

  test('viewer: tiles at several levels, no 404s, no horizontal repeat, edge tiles at true size', async () => {
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    const tileStatuses: Array<[string, number]> = [];
    page.on('response', (res) => {
      if (res.url().includes('/tiles/')) tileStatuses.push([res.url(), res.status()]);
    });
    // Short enough that the whole image fits at zoom 9 or less: zooming out stops where it fits.
    await page.setViewportSize({ width: 1200, height: 340 });
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
        // At its true size, plus the 2 px of copied edge that reach under the next column (none after the last).
        assert.equal(t.width, t.naturalWidth + (t.x === cols[t.level]! - 1 ? 0 : 2), 'drawn at its true size');
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
    // 11.5, not less: at 10.5 the whole image fits the window, and the map keeps it centred.
    for (const [y, x] of [[300, 500], [400, 700], [300, 900]]) {
      await page.evaluate(([yy, xx]) => (window as any).hugemapMap.setView([yy, xx], 11.5, { animate: false }), [y, x]);
    }
    // Leaflet rounds the centre to whole screen pixels: a pixel or two of the image at this zoom.
    await page.waitForURL(/x=(899|900|901)&y=(299|300|301)&z=11\.5$/, WAIT);
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
    assert.equal(view.z, 11.5);
    assert.ok(Math.abs(view.x - ux) <= 1 && Math.abs(view.y - uy) <= 1, JSON.stringify({ view, ux, uy }));
    await screenshot(restored, '05-permalink-restored');
    await restored.close();
    await page.close();
  });

  test('previous and next in the viewer follow the listing (newest first), failed images skipped', async () => {
    const page = await context.newPage();
    const at = (id: string) => new RegExp(`/v/${id}(\\?|$)`);
    await page.goto(`${api.url}/v/${images.dropped}`);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    await page.click('#next');
    await page.locator('#viewer-message', { hasText: 'This is the last image.' }).waitFor(WAIT);
    await page.click('#previous');
    await page.waitForURL(at(images.fetched!), WAIT);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    await page.click('#previous');
    // The newer image failed (too many pixels): nothing to show, so this is the first.
    await page.locator('#viewer-message', { hasText: 'This is the first image.' }).waitFor(WAIT);
    await page.click('#next');
    await page.waitForURL(at(images.dropped!), WAIT);
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
      await form.locator('text=saved').waitFor(WAIT).catch(async (err: Error) => {
        // Seen once with two test files at a time: say what the page showed instead of "saved".
        const shown = await page.evaluate(() => ({
          popups: document.querySelectorAll('.leaflet-popup').length,
          statuses: [...document.querySelectorAll('.leaflet-popup .annotation-form [role=status]')].map((n) => n.textContent),
          titles: [...document.querySelectorAll<HTMLInputElement>('.leaflet-popup .annotation-form input[name=title]')].map((n) => n.value),
          markers: document.querySelectorAll('.leaflet-marker-icon').length,
        }));
        throw new Error(`${title}: no "saved" in the popup: ${JSON.stringify(shown)}; ${err.message.split('\n')[0]}`);
      });
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
    // An annotation of its own (on the other image than the drawing test's) for the iframe to hide and show.
    const made = await fetch(`${api.url}/api/v1/images/${images.fetched}/annotations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'rectangle', points: [[100, 100], [500, 400]], title: 'Embedded' }),
    });
    assert.equal(made.status, 201);
    const page = await context.newPage();
    await page.goto(`${api.url}/embed/${images.fetched}`);
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
    assert.match(html, new RegExp(`src="${api.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/v/${images.fetched}\\?embedded=1&amp;annotations=0"`));
    assert.match(html, /width="480" height="320"/);

    const frame = page.frameLocator('#preview iframe');
    await frame.locator('body[data-ready=true]').waitFor(WAIT);
    assert.equal(await frame.locator('.topbar').count(), 0, 'minimal chrome');
    assert.equal(await frame.locator('.leaflet-pm-toolbar').count(), 0, 'no drawing tools');
    assert.equal(await frame.locator('.leaflet-overlay-pane path').count(), 0, 'annotations hidden');
    assert.ok((await frame.locator('.leaflet-tile-loaded').count()) > 0);
    await page.uncheck('#hide-annotations');
    await page.frameLocator('#preview iframe').locator('body[data-ready=true]').waitFor(WAIT);
    await page.frameLocator('#preview iframe').locator('.leaflet-overlay-pane path').first().waitFor(WAIT);
    await screenshot(page, '08-embed');
    await page.close();
  });

  test('works on a phone: no sideways scrolling, the map fills the screen', async () => {
    const phone = await stack.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    try {
      const page = await phone.newPage();
      for (const [path, name] of [[`/v/${images.dropped}`, '12-phone-viewer'], ['/gallery', '13-phone-gallery']] as const) {
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
    // One of its own to delete, so the images the other tests use stay (whatever the order).
    const doomed = await uploadAndWait(api.url, await gridImage(600, 400, 60), 'doomed.jpg');
    assert.equal(doomed.status, 'done');
    assert.equal((await patch(images.dropped!, { title: 'Harbour', tags: ['harbour', 'blue'] })).status, 200);
    assert.equal((await patch(images.fetched!, { title: 'Sunset', tags: ['blue'] })).status, 200);
    assert.equal((await patch(doomed.id, { title: 'Doomed', tags: [] })).status, 200);

    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${api.url}/gallery?limit=1`);
    // One card per page: the others arrive only through the scroll sentinel.
    const listed = (await (await fetch(`${api.url}/api/v1/images?limit=10`)).json()) as { items: Array<{ id: string; title: string | null; filename: string | null }> };
    const expected = listed.items.map((i) => i.title ?? i.filename);
    assert.deepEqual([...expected].sort(), ['Doomed', 'Harbour', 'Sunset', 'too-big.jpg']);
    await page.waitForFunction((n) => document.querySelectorAll('#grid .card').length >= n && document.getElementById('gallery-status')!.textContent === '', expected.length, WAIT);
    const titles = await page.locator('#grid .card-title').allTextContents();
    assert.deepEqual(titles, expected, 'newest first, each once');
    // The image refused for its pixel count has a card that says why.
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
    await page.click(`#grid .card[data-id="${doomed.id}"] .delete`);
    await page.locator(`#grid .card[data-id="${doomed.id}"]`).waitFor({ state: 'detached', ...WAIT });
    assert.equal((await fetch(`${api.url}/api/v1/images/${doomed.id}`)).status, 404);
    assert.equal((await fetch(`${api.url}/api/v1/images/${images.fetched}`)).status, 200, 'the others stay');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
