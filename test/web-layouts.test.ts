/**
 * Layouts on a phone (390x844), a tablet (768x1024) and a desktop, in a real
 * browser: nothing scrolls sideways, the map gets most of the screen, the
 * header's links and the image's menu fold into menu buttons on the small
 * screens, the drawing tools fold behind one button on the phone and work by
 * touch; the annotation list edits, deletes and undoes, with a saving/saved
 * state; and the map stays inside the image's bounds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrowserContext, Page } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, skipWithoutChromium, screenshot } from './helpers/browser.js';
import { WAIT, gridImage, screenPointOf, startWebStack, uploadAndWait, type WebStack } from './helpers/web-stack.js';
import { waitFor } from './helpers/test-config.js';

const servers = await useTestServers();

const DEVICES = {
  phone: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  tablet: { viewport: { width: 768, height: 1024 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  desktop: { viewport: { width: 1280, height: 800 } },
} as const;

const noSidewaysScroll = async (page: Page, what: string) => {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
  assert.ok(scrollWidth <= innerWidth, `${what}: ${scrollWidth} > ${innerWidth}`);
};

const screenOf = screenPointOf;

describe('layouts on phone, tablet and desktop', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let id: string;
  const W = 1500;
  const H = 1000;
  const annotationsOf = async () => ((await (await fetch(`${stack.api.url}/api/v1/images/${id}/annotations`)).json()) as { items: any[] }).items;

  before(async () => {
    stack = await startWebStack(servers, 'web-layouts');
    const image = await uploadAndWait(stack.api.url, await gridImage(W, H, 30), 'quay.jpg');
    assert.equal(image.status, 'done');
    id = image.id;
  });

  after(async () => {
    await stack?.close();
  });

  /** `expect404`: the test provokes one refused request, which chromium logs as a console error. */
  const withDevice = async (name: keyof typeof DEVICES, fn: (page: Page, context: BrowserContext) => Promise<void>, expect404 = false) => {
    const context = await stack.browser.newContext(DEVICES[name]);
    try {
      const page = await context.newPage();
      const errors = collectPageErrors(page);
      await fn(page, context);
      assert.deepEqual(errors.filter((e) => !(expect404 && /status of 404/.test(e))), [], `${name}: page errors`);
    } finally {
      await context.close();
    }
  };

  for (const name of ['phone', 'tablet', 'desktop'] as const) {
    test(`${name}: pages fit the screen, the map fills it, menus fold on small screens`, async () => {
      await withDevice(name, async (page) => {
        const { width, height } = DEVICES[name].viewport;
        const small = width <= 820;
        for (const path of ['/', '/gallery', '/login', '/me']) {
          await page.goto(`${stack.api.url}${path}`);
          await noSidewaysScroll(page, `${name} ${path}`);
          assert.equal(await page.locator('#menu-button').isVisible(), small, `${path}: menu button on small screens only`);
          assert.equal(await page.locator('.topbar nav a[href="/gallery"]').isVisible(), !small, `${path}: links folded on small screens`);
        }
        await screenshot(page, `layout-${name}-me`);
        await page.goto(`${stack.api.url}/`);
        if (small) {
          await page.click('#menu-button');
          await page.locator('.topbar nav a[href="/gallery"]').waitFor({ state: 'visible', ...WAIT });
          assert.equal(await page.locator('#menu-button').getAttribute('aria-expanded'), 'true');
          await screenshot(page, `layout-${name}-menu-open`);
          await page.keyboard.press('Escape');
          assert.equal(await page.locator('.topbar nav a[href="/gallery"]').isVisible(), false, 'Escape closes the menu');
        }

        await page.goto(`${stack.api.url}/v/${id}`);
        await page.waitForSelector('body[data-ready=true]', WAIT);
        await noSidewaysScroll(page, `${name} viewer`);
        const map = (await page.locator('#map').boundingBox())!;
        assert.ok(map.width >= width - 1 && map.height >= height * 0.75, `${name}: the map fills the screen: ${JSON.stringify(map)}`);
        assert.equal(await page.locator('#viewer-menu-button').isVisible(), small);
        assert.equal(await page.locator('#previous').isVisible(), !small);
        if (small) {
          await page.click('#viewer-menu-button');
          for (const sel of ['#previous', '#next', '#random-image', '#annotations-button', '#viewer-menu a[href^="/embed/"]']) {
            assert.ok(await page.locator(sel).isVisible(), `${sel} in the open image menu`);
          }
          await screenshot(page, `layout-${name}-viewer-menu`);
          await page.click('#viewer-menu-button');
        }
        // The controls leave most of the image free: their boxes cover under a fifth of the map.
        const covered = await page.evaluate(() =>
          [...document.querySelectorAll('.leaflet-control')]
            .map((c) => c.getBoundingClientRect())
            .filter((r) => r.width > 0 && r.height > 0)
            .reduce((sum, r) => sum + r.width * r.height, 0),
        );
        assert.ok(covered < 0.2 * map.width * map.height, `${name}: controls cover ${Math.round(covered)} of ${Math.round(map.width * map.height)} px²`);
        if (name === 'phone') {
          assert.equal(await page.locator('.leaflet-pm-toolbar').first().isVisible(), false, 'drawing tools folded on a phone');
          const toggle = (await page.locator('.tools-toggle-button').boundingBox())!;
          assert.ok(toggle.width >= 44 && toggle.height >= 44, `a finger-sized tools button: ${JSON.stringify(toggle)}`);
        }
        await screenshot(page, `layout-${name}-viewer`);
      });
    });
  }

  test('bounds: zooming out stops where the whole image fits, panning stops at its edges', async () => {
    await withDevice('desktop', async (page) => {
      await page.goto(`${stack.api.url}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      const fit = await page.evaluate(() => {
        const w = window as any;
        const map = w.hugemapMap;
        map.setZoom(0, { animate: false });
        const size = map.getSize();
        const a = map.latLngToContainerPoint([0, 0]);
        const b = map.latLngToContainerPoint([w.hugemapTiles._dz.height, w.hugemapTiles._dz.width]);
        return { zoom: map.getZoom(), min: map.getMinZoom(), size: [size.x, size.y], image: [b.x - a.x, b.y - a.y], a: [a.x, a.y] };
      });
      assert.equal(fit.zoom, fit.min, 'zoom-out stops at the minimum');
      assert.ok(fit.image[0]! <= fit.size[0]! + 1 && fit.image[1]! <= fit.size[1]! + 1, `the whole image fits: ${JSON.stringify(fit)}`);
      assert.ok(fit.image[0]! >= fit.size[0]! * 0.75 || fit.image[1]! >= fit.size[1]! * 0.75, `and fills the window in one direction: ${JSON.stringify(fit)}`);

      // Zoomed in, a long drag to the far right and bottom stops with the image's corner near the window's.
      await page.evaluate(() => (window as any).hugemapMap.setZoom(11, { animate: false }));
      const box = (await page.locator('#map').boundingBox())!;
      for (let i = 0; i < 3; i++) {
        await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.8);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.1, { steps: 8 });
        await page.mouse.up();
      }
      // After the drag Leaflet glides (inertia) and then pulls the view back inside its bounds: wait for where it settles.
      const gaps = () =>
        page.evaluate(([w, h]) => {
          const map = (window as any).hugemapMap;
          const box = map.getContainer().getBoundingClientRect();
          const corner = map.latLngToContainerPoint([h, w]);
          return { right: box.width - corner.x, bottom: box.height - corner.y };
        }, [W, H] as const);
      const settled = await waitFor('the view to settle at the corner', async () => {
        const g = await gaps();
        return g.right >= -1 && g.right <= 60 && g.bottom >= -1 && g.bottom <= 60 ? g : undefined;
      }, 10_000).catch(async () => gaps());
      assert.ok(settled.right >= -1 && settled.right <= 60, `right edge stops within a small margin: ${settled.right}`);
      assert.ok(settled.bottom >= -1 && settled.bottom <= 60, `bottom edge stops within a small margin: ${settled.bottom}`);
      await screenshot(page, 'layout-bounds-corner');
    });
  });

  test('phone: draw by touch, then edit, delete and undo from the list, with saving and saved shown', async () => {
    await withDevice('phone', async (page) => {
      await page.goto(`${stack.api.url}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      await page.tap('.tools-toggle-button');
      await page.locator('.leaflet-pm-icon-marker').waitFor({ state: 'visible', ...WAIT });
      const tool = (await page.locator('.leaflet-pm-toolbar .leaflet-buttons-control-button').first().boundingBox())!;
      assert.ok(tool.width >= 44 && tool.height >= 44, `finger-sized drawing buttons: ${JSON.stringify(tool)}`);
      await page.tap('.leaflet-pm-icon-marker');
      const at = await screenOf(page, 750, 500);
      await page.touchscreen.tap(at.x, at.y);
      const form = page.locator('.leaflet-popup .annotation-form');
      await form.waitFor(WAIT);
      await form.locator('input[name=title]').fill('Crane');
      await form.locator('button[type=submit]').tap();
      await form.locator('text=saved').waitFor(WAIT);
      await page.waitForSelector('#save-state[data-state="saved"]', WAIT);
      await screenshot(page, 'layout-phone-drawn');
      let stored = await annotationsOf();
      assert.deepEqual(stored.map((a) => [a.type, a.title]), [['marker', 'Crane']]);
      assert.ok(Math.abs(stored[0].points[0][0] - 750) < 10 && Math.abs(stored[0].points[0][1] - 500) < 10, JSON.stringify(stored[0].points));

      await page.evaluate(() => (window as any).hugemapMap.closePopup());
      await page.tap('#viewer-menu-button');
      await page.tap('#annotations-button');
      const entry = page.locator('#annotation-list li', { hasText: 'Crane' });
      await entry.waitFor(WAIT);
      assert.match((await page.locator('#annotations-button').textContent()) ?? '', /Annotations \(1\)/);
      await screenshot(page, 'layout-phone-list');

      // Edit from the list: it opens the shape's editor.
      await entry.locator('.annotation-edit').tap();
      await form.waitFor(WAIT);
      await form.locator('input[name=title]').fill('Big crane');
      await form.locator('button[type=submit]').tap();
      await form.locator('text=saved').waitFor(WAIT);
      await page.locator('#annotation-list .annotation-show', { hasText: 'Big crane' }).waitFor(WAIT);
      assert.equal((await annotationsOf())[0].title, 'Big crane');

      // Undo the edit: the old title is back on the server and in the list.
      await page.tap('#undo');
      await page.locator('#annotation-list .annotation-show', { hasText: /^Crane$/ }).waitFor(WAIT);
      assert.equal((await annotationsOf())[0].title, 'Crane');

      // Delete from the list, then undo the delete.
      await page.evaluate(() => (window as any).hugemapMap.closePopup());
      await page.locator('#annotation-list li', { hasText: 'Crane' }).locator('.annotation-delete').tap();
      await page.locator('#annotation-list li', { hasText: 'Crane' }).waitFor({ state: 'detached', ...WAIT });
      await page.locator('#save-state[data-state=saved]').waitFor(WAIT);
      assert.deepEqual(await annotationsOf(), []);
      assert.equal(await page.locator('.leaflet-marker-pane img').count(), 0);
      await page.tap('#undo');
      await page.locator('#annotation-list li', { hasText: 'Crane' }).waitFor(WAIT);
      stored = await annotationsOf();
      assert.deepEqual(stored.map((a) => [a.type, a.title]), [['marker', 'Crane']]);
      assert.equal(await page.locator('.leaflet-marker-pane img').count(), 1);
      await screenshot(page, 'layout-phone-undone');
    });
  });

  test('desktop: a shape dragged to a new place is saved there, and undo puts it back', async () => {
    await withDevice('desktop', async (page) => {
      const created = await fetch(`${stack.api.url}/api/v1/images/${id}/annotations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'marker', points: [[400, 300]], title: 'Anchor', comment: '' }),
      });
      const anchor = (await created.json()) as { id: string };
      const stored = async () => (await annotationsOf()).find((a) => a.id === anchor.id);
      await page.goto(`${stack.api.url}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      await page.click('.leaflet-pm-icon-drag');
      const from = await screenOf(page, 400, 300);
      const to = await screenOf(page, 900, 600);
      // The marker's tip is its anchor: grab the icon a little above it.
      await page.mouse.move(from.x, from.y - 10);
      await page.mouse.down();
      await page.mouse.move(to.x, to.y - 10, { steps: 10 });
      await page.mouse.up();
      await page.click('.leaflet-pm-icon-drag'); // drag mode off
      await waitFor('the move to be saved', async () => {
        const a = await stored();
        return Math.abs(a.points[0][0] - 900) < 8 && Math.abs(a.points[0][1] - 600) < 8 ? a : undefined;
      }, 20_000);
      // The server has it; the page says so once the answer arrives (a moment later).
      await page.waitForSelector('#save-state[data-state="saved"]', WAIT);
      assert.match((await page.locator('#undo').getAttribute('aria-label')) ?? '', /^Undo: move Anchor$/);
      await page.click('#undo');
      await waitFor('the undo to be saved', async () => {
        const a = await stored();
        return a.points[0][0] === 400 && a.points[0][1] === 300 ? a : undefined;
      }, 20_000);
      // On the map too: the marker's tip is back where it was.
      await page.waitForFunction(([x, y]) => {
        const icons = [...document.querySelectorAll('.leaflet-marker-pane img.leaflet-marker-icon')].map((i) => i.getBoundingClientRect());
        return icons.some((r) => Math.abs((r.left + r.right) / 2 - x) <= 2 && Math.abs(r.bottom - y) <= 2);
      }, [from.x, from.y] as const, WAIT);
      await screenshot(page, 'layout-desktop-move-undone');
    });
  });

  test('a failed save says so', async () => {
    await withDevice('desktop', async (page) => {
      const created = await fetch(`${stack.api.url}/api/v1/images/${id}/annotations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'marker', points: [[200, 200]], title: 'Bollard', comment: '' }),
      });
      const bollard = (await created.json()) as { id: string };
      await page.goto(`${stack.api.url}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      await page.click('#annotations-button');
      // Someone else removed it meanwhile: the edit cannot be saved.
      assert.equal((await fetch(`${stack.api.url}/api/v1/images/${id}/annotations/${bollard.id}`, { method: 'DELETE' })).status, 204);
      await page.locator('#annotation-list li', { hasText: 'Bollard' }).locator('.annotation-edit').click();
      const form = page.locator('.leaflet-popup .annotation-form');
      await form.locator('input[name=title]').fill('Bollard 2');
      await form.locator('button[type=submit]').click();
      await page.locator('#save-state[data-state=failed]').waitFor(WAIT);
      assert.match((await page.locator('#save-state').textContent()) ?? '', /^Failed: HUGEMAP_ERR_NOT_FOUND/);
      assert.match((await form.textContent()) ?? '', /failed/);
    }, true);
  });
});
