/**
 * Accessibility in a real browser: axe-core (from node_modules, run in the
 * page) finds no serious or critical violation on every page at desktop and
 * phone widths, and the viewer works from the keyboard alone: every control
 * reachable with Tab and shown with a visible focus ring, the map named and
 * pannable with the arrow keys and zoomable with + and -.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, skipWithoutChromium, screenshot } from './helpers/browser.js';
import { WAIT, gridImage, startWebStack, uploadAndWait, type WebStack } from './helpers/web-stack.js';
import { seriousViolations, type AxeFinding } from './helpers/axe.js';

const servers = await useTestServers();
describe('accessibility', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let id: string;

  before(async () => {
    stack = await startWebStack(servers, 'web-a11y');
    const image = await uploadAndWait(stack.api.url, await gridImage(1500, 1000, 200), 'harbour.jpg');
    assert.equal(image.status, 'done');
    id = image.id;
    await fetch(`${stack.api.url}/api/v1/images/${id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Harbour', tags: ['harbour', 'blue'] }),
    });
    const annotation = await fetch(`${stack.api.url}/api/v1/images/${id}/annotations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'marker', points: [[700, 400]], title: 'Lighthouse', comment: 'white' }),
    });
    assert.equal(annotation.status, 201);
  });

  after(async () => {
    await stack?.close();
  });

  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    test(`axe: no serious or critical violation on any page at ${viewport.width}x${viewport.height}`, async () => {
      const phone = viewport.width < 600;
      const context = await stack.browser.newContext({ viewport, isMobile: phone, hasTouch: phone });
      try {
        const page = await context.newPage();
        const errors = collectPageErrors(page);
        const pages = ['/', `/v/${id}`, `/v/${id}?embedded=1`, `/embed/${id}`, '/gallery', '/login', '/me', '/no-such-page'];
        const found: Record<string, AxeFinding[]> = {};
        for (const path of pages) {
          const res = await page.goto(`${stack.api.url}${path}`);
          assert.equal(res?.status(), path === '/no-such-page' ? 404 : 200, path);
          if (path.startsWith('/v/')) await page.waitForSelector('body[data-ready=true]', WAIT);
          if (path === '/gallery') await page.locator('#grid .card').first().waitFor(WAIT);
          if (path === '/me') await page.waitForFunction(() => !['', 'Loading…'].includes(document.getElementById('my-status')!.textContent!) || document.querySelector('#my-images li'), null, WAIT);
          if (path.startsWith('/embed/')) {
            await page.frameLocator('#preview iframe').locator('body[data-ready=true]').waitFor(WAIT);
            const snippet = await page.inputValue('#snippet');
            assert.match(snippet, /\sallowfullscreen\s/, 'the embed code allows fullscreen');
            assert.match(snippet, /\stitle="Harbour"/, 'and names the frame');
          }
          const violations = await seriousViolations(page);
          if (violations.length > 0) found[path] = violations;
          if (path === `/v/${id}`) {
            // Again with the image menu (folded on the phone) and the annotation list open.
            if (phone) await page.click('#viewer-menu-button');
            await page.click('#annotations-button');
            await page.locator('#annotation-list .annotation-show').first().waitFor(WAIT);
            const open = await seriousViolations(page);
            if (open.length > 0) found[`${path} (list open)`] = open;
          }
          await screenshot(page, `a11y-${viewport.width}-${path.replace(/[^a-z0-9]+/gi, '_')}`);
        }
        assert.deepEqual(found, {}, JSON.stringify(found, null, 1));
        // The 404 page's own request is the one console error a browser logs for it.
        assert.deepEqual(errors.filter((e) => !/404 \(Not Found\)/.test(e)), []);
      } finally {
        await context.close();
      }
    });
  }

  test('keyboard: every viewer control is reached with Tab, shows its focus, and the map pans and zooms from the keys', async () => {
    const context = await stack.browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const errors = collectPageErrors(page);
      await page.goto(`${stack.api.url}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      assert.match((await page.locator('#map').getAttribute('aria-label')) ?? '', /^Harbour: zoomable image/);

      const reached: Array<{ name: string; outline: string }> = [];
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          if (!el || el === document.body) return null;
          const style = getComputedStyle(el);
          const name = el.getAttribute('aria-label') ?? el.id ?? '';
          return { name: name || (el.textContent ?? '').trim().slice(0, 30) || el.className, outline: `${style.outlineStyle} ${style.outlineWidth}` };
        });
        if (!focused) continue;
        if (reached.some((r) => r.name === focused.name)) break;
        reached.push(focused);
      }
      const names = reached.map((r) => r.name);
      for (const want of ['hugemap', 'Gallery', 'previous', 'random-image', 'next', 'Embed', 'annotations-button', 'Zoom in', 'Zoom out', 'Fullscreen', 'Draw Marker', 'Edit Layers', 'Remove Layers', 'toggle-annotations']) {
        assert.ok(names.some((n) => n === want || n.startsWith(want)), `${want} reachable with Tab; reached: ${names.join(' | ')}`);
      }
      assert.ok(names.some((n) => n.startsWith('Harbour: zoomable image')), `the map itself takes the focus: ${names.join(' | ')}`);
      for (const r of reached) assert.doesNotMatch(r.outline, /^none|\s0px$/, `${r.name} shows its focus (${r.outline})`);

      // Operable: the annotation list opens with Enter, the fullscreen-free controls work from the keyboard.
      await page.focus('#annotations-button');
      await page.keyboard.press('Enter');
      await page.locator('#annotation-panel').waitFor({ state: 'visible', ...WAIT });
      assert.deepEqual(await page.locator('#annotation-list .annotation-show').allTextContents(), ['Lighthouse']);
      await page.keyboard.press('Enter'); // the focus moved to the first entry: it opens the shape's popup
      await page.locator('.leaflet-popup input[name=title]').waitFor(WAIT);
      await page.click('#annotations-close');

      const view = () => page.evaluate(() => {
        const map = (window as any).hugemapMap;
        return { x: map.getCenter().lng, y: map.getCenter().lat, z: map.getZoom() };
      });
      // Leaflet ignores a key pressed while the previous zoom or pan still animates: each step waits for the map to settle.
      const settledWith = (what: 'zoom>' | 'zoom<' | 'x>' | 'y>', than: number) =>
        page.waitForFunction(([w, t]) => {
          const map = (window as any).hugemapMap;
          if (map._animatingZoom || map._panAnim?._inProgress) return false;
          const c = map.getCenter();
          return w === 'zoom>' ? map.getZoom() > t : w === 'zoom<' ? map.getZoom() < t : w === 'x>' ? c.lng > t : c.lat > t;
        }, [what, than] as const, WAIT);
      await page.focus('#map');
      const start = await view();
      await page.keyboard.press('+');
      await settledWith('zoom>', start.z);
      await page.keyboard.press('+');
      await settledWith('zoom>', start.z + 0.75);
      const zoomed = await view();
      await page.keyboard.press('ArrowRight');
      await settledWith('x>', zoomed.x + 1);
      await page.keyboard.press('ArrowDown');
      await settledWith('y>', zoomed.y + 1);
      await page.keyboard.press('-');
      await settledWith('zoom<', zoomed.z);
      await screenshot(page, 'a11y-keyboard-viewer');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
