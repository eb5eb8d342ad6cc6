/**
 * The viewer's controls in a real browser (Debian's chromium via playwright-core)
 * against the real stack: an annotation's text edited in its popup, a shape
 * dragged to a new place, one removed; the fullscreen button; a click on the
 * minimap. Annotations are made through the API, so each test starts from its own.
 * Screenshots land in test-artifacts/.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, screenshot, skipWithoutChromium } from './helpers/browser.js';
import { WAIT, gridImage, screenPointOf, startWebStack, uploadAndWait, type WebStack } from './helpers/web-stack.js';

const servers = await useTestServers();

interface Annotation {
  id: string;
  type: string;
  points: number[][];
  title: string;
  comment: string;
}

describe('viewer controls in a real browser', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let base: string;
  let id: string;
  const W = 1500;
  const H = 1000;

  const annotations = async (): Promise<Annotation[]> => ((await (await fetch(`${base}/api/v1/images/${id}/annotations`)).json()) as { items: Annotation[] }).items;
  const annotate = async (body: Record<string, unknown>): Promise<Annotation> => {
    const res = await fetch(`${base}/api/v1/images/${id}/annotations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 201);
    return (await res.json()) as Annotation;
  };

  /** Opens the viewer at image pixel (x, y), zoom z, and waits until it is ready. */
  async function openViewer(page: Page, x: number, y: number, z: number): Promise<void> {
    await page.goto(`${base}/v/${id}?x=${x}&y=${y}&z=${z}`);
    await page.waitForSelector('body[data-ready=true]', WAIT);
  }

  const screen = screenPointOf;

  /** The image pixel at the map's centre. */
  const centre = (page: Page) =>
    page.evaluate(() => {
      const c = (window as any).hugemapMap.getCenter();
      return { x: c.lng as number, y: c.lat as number };
    });

  before(async () => {
    stack = await startWebStack(servers, 'web-viewer-controls', { MAX_PIXELS: '2000000' });
    base = stack.api.url;
    const image = await uploadAndWait(base, await gridImage(W, H, 160), 'controls.jpg');
    assert.equal(image.status, 'done');
    id = image.id;
  });

  after(async () => {
    await stack?.close();
  });

  beforeEach(async () => {
    for (const a of await annotations()) {
      assert.equal((await fetch(`${base}/api/v1/images/${id}/annotations/${a.id}`, { method: 'DELETE' })).status, 204);
    }
  });

  test("annotation: its popup edits the title and comment, saved at once and shown after a reload", async () => {
    const made = await annotate({ type: 'rectangle', points: [[300, 200], [700, 500]], title: 'Before', comment: 'old words' });
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await openViewer(page, 750, 500, 9.5);
    const inside = await screen(page, 500, 350);
    await page.mouse.click(inside.x, inside.y);
    const form = page.locator('.leaflet-popup form');
    await form.waitFor(WAIT);
    assert.equal(await form.getByLabel('Title').inputValue(), 'Before');
    assert.equal(await form.getByLabel('Comment').inputValue(), 'old words');
    await form.getByLabel('Title').fill('After');
    await form.getByLabel('Comment').fill('new words');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('saved', { exact: true }).waitFor(WAIT);
    await screenshot(page, '20-annotation-edited');

    assert.deepEqual((await annotations()).map((a) => ({ id: a.id, title: a.title, comment: a.comment, points: a.points })), [
      { id: made.id, title: 'After', comment: 'new words', points: [[300, 200], [700, 500]] },
    ]);
    await openViewer(page, 750, 500, 9.5);
    await page.mouse.move(inside.x, inside.y);
    assert.equal(await page.locator('.leaflet-tooltip').textContent(WAIT), 'After');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('annotation: dragged in drag mode, it is stored at its new place in image pixels', async () => {
    const made = await annotate({ type: 'rectangle', points: [[300, 200], [700, 500]], title: 'Moved' });
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await openViewer(page, 750, 500, 9.5);
    await page.getByTitle('Drag Layers').click();
    const from = await screen(page, 500, 350);
    const to = await screen(page, 700, 450);
    const saved = page.waitForResponse((res) => res.request().method() === 'PATCH' && res.url().endsWith(`/annotations/${made.id}`), WAIT);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) await page.mouse.move(from.x + ((to.x - from.x) * i) / 10, from.y + ((to.y - from.y) * i) / 10);
    await page.mouse.up();
    assert.equal((await saved).status(), 200);

    const [stored] = await annotations();
    // Moved by (200, 100) image pixels; a screen pixel is about 1.4 image pixels at this zoom.
    const want = [[500, 300], [900, 600]];
    assert.ok(stored!.points.flat().every((v, i) => Math.abs(v - want.flat()[i]!) <= 3), `stored ${JSON.stringify(stored!.points)}, want ${JSON.stringify(want)}`);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('annotation: removal mode deletes the shape clicked, and only that one', async () => {
    const keep = await annotate({ type: 'rectangle', points: [[100, 100], [400, 300]], title: 'Keep' });
    const doomed = await annotate({ type: 'rectangle', points: [[900, 500], [1300, 800]], title: 'Remove' });
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await openViewer(page, 750, 500, 9.5);
    assert.equal(await page.locator('.leaflet-overlay-pane path').count(), 2);
    await page.getByTitle('Remove Layers').click();
    const deleted = page.waitForResponse((res) => res.request().method() === 'DELETE' && res.url().endsWith(`/annotations/${doomed.id}`), WAIT);
    const inside = await screen(page, 1100, 650);
    await page.mouse.click(inside.x, inside.y);
    assert.equal((await deleted).status(), 204);
    assert.equal(await page.locator('.leaflet-overlay-pane path').count(), 1);

    assert.deepEqual((await annotations()).map((a) => a.id), [keep.id]);
    await openViewer(page, 750, 500, 9.5);
    assert.equal(await page.locator('.leaflet-overlay-pane path').count(), 1, 'still gone after a reload');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('the fullscreen button fills the screen with the viewer, and a second press leaves it', async () => {
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await openViewer(page, 750, 500, 9.5);
    const before = await page.locator('#map').boundingBox();
    const button = page.getByRole('button', { name: 'Fullscreen' });
    await button.click();
    await page.waitForFunction(() => document.fullscreenElement?.classList.contains('is-fullscreen') === true, null, WAIT);
    const full = await page.evaluate(() => {
      const map = (window as any).hugemapMap;
      const box = map.getContainer().getBoundingClientRect();
      return { element: document.fullscreenElement!.className, width: box.width, height: box.height, mapWidth: map.getSize().x, innerWidth, innerHeight };
    });
    assert.match(full.element, /\bviewer-main\b/);
    assert.equal(full.width, full.innerWidth, 'the map is as wide as the screen');
    assert.equal(full.mapWidth, Math.round(full.width), 'Leaflet was told of the new size');
    assert.ok(before && full.height > before.height, `taller in fullscreen: ${full.height} against ${before?.height}`);
    await screenshot(page, '21-fullscreen');

    await button.click();
    await page.waitForFunction(() => document.fullscreenElement === null && document.querySelector('.is-fullscreen') === null, null, WAIT);
    assert.deepEqual(await page.locator('#map').boundingBox(), before);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a click on the minimap moves the map to that place of the image', async () => {
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await openViewer(page, 375, 250, 12);
    const minimap = page.locator('.minimap');
    await minimap.waitFor(WAIT);
    // Inside its border: the thumbnail's own size.
    const box = await minimap.evaluate((m) => ({ width: m.clientWidth, height: m.clientHeight }));
    // 70 % across and 30 % down the thumbnail: image pixel (1050, 300). Playwright's position is from the padding box, like the thumbnail.
    const at = { x: box.width * 0.7, y: box.height * 0.3 };
    const want = { x: W * 0.7, y: H * 0.3 };
    const start = await centre(page);
    assert.ok(Math.hypot(start.x - want.x, start.y - want.y) > 500, `starts far away: ${JSON.stringify(start)}`);
    await minimap.click({ position: at });
    // One thumbnail pixel is about 9 image pixels: a click one pixel off is caught.
    await page.waitForFunction(([x, y]) => {
      const map = (window as any).hugemapMap;
      const c = map.getCenter();
      return Math.abs(c.lng - x!) <= 5 && Math.abs(c.lat - y!) <= 5;
    }, [want.x, want.y], WAIT).catch(async (err) => {
      throw new Error(`the map's centre is ${JSON.stringify(await centre(page))}, not ${JSON.stringify(want)}: ${(err as Error).message}`);
    });
    // The box that shows what the map shows is around the place clicked.
    const view = await page.locator('.minimap-view').evaluate((v) => {
      const s = (v as HTMLElement).style;
      return { left: parseFloat(s.left), top: parseFloat(s.top), width: parseFloat(s.width), height: parseFloat(s.height) };
    });
    assert.ok(view.left < at.x && at.x < view.left + view.width && view.top < at.y && at.y < view.top + view.height, `view box ${JSON.stringify(view)} holds ${JSON.stringify(at)}`);
    await screenshot(page, '22-minimap-click');
    assert.deepEqual(errors, []);
    await page.close();
  });
});
