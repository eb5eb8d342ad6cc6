/**
 * No seams between tiles: a flat-colour image, tiled through the real stack,
 * shown at fractional zooms on device pixel ratios 1, 1.5 and 2; every screen
 * pixel inside the image must be that colour. Before the fix, the tile edges
 * that fell between device pixels let the dark map background show through.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, skipWithoutChromium, screenshot } from './helpers/browser.js';
import { WAIT, startWebStack, uploadAndWait, type WebStack } from './helpers/web-stack.js';

const servers = await useTestServers();
const COLOUR = { r: 214, g: 90, b: 40 };

/** Pixels of the image's area on screen that differ from the flat colour (PNG tiles: lossless, so any difference is a seam). */
async function offColourPixels(page: Page, name: string): Promise<{ count: number; first: string[]; width: number; height: number }> {
  const clip = await page.evaluate(() => {
    const w = window as any;
    const map = w.hugemapMap;
    const box = map.getContainer().getBoundingClientRect();
    const dz = w.hugemapTiles._dz;
    const a = map.latLngToContainerPoint([0, 0]);
    const b = map.latLngToContainerPoint([dz.height, dz.width]);
    // Inside the image and the map, 2 px in from the image's own edges (blended with the background, as any edge is).
    const x0 = Math.max(box.left, box.left + a.x + 2), y0 = Math.max(box.top, box.top + a.y + 2);
    const x1 = Math.min(box.right, box.left + b.x - 2), y1 = Math.min(box.bottom, box.top + b.y - 2);
    return { x: Math.ceil(x0), y: Math.ceil(y0), width: Math.floor(x1 - Math.ceil(x0)), height: Math.floor(y1 - Math.ceil(y0)) };
  });
  assert.ok(clip.width > 100 && clip.height > 100, `the image covers a good part of the window: ${JSON.stringify(clip)}`);
  const png = await page.screenshot({ clip });
  await screenshot(page, name);
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let count = 0;
  const first: string[] = [];
  for (let i = 0; i < data.length; i += 3) {
    if (Math.abs(data[i]! - COLOUR.r) > 1 || Math.abs(data[i + 1]! - COLOUR.g) > 1 || Math.abs(data[i + 2]! - COLOUR.b) > 1) {
      count++;
      const p = i / 3;
      if (first.length < 5) first.push(`(${p % info.width},${Math.floor(p / info.width)})=${data[i]},${data[i + 1]},${data[i + 2]}`);
    }
  }
  return { count, first, width: info.width, height: info.height };
}

describe('no seams between tiles', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let id: string;

  before(async () => {
    stack = await startWebStack(servers, 'web-seams');
    // RGBA: PNG tiles, so the colour on screen is exact wherever a tile is drawn.
    const flat = await sharp({ create: { width: 1500, height: 1000, channels: 4, background: { ...COLOUR, alpha: 1 } } }).png().toBuffer();
    const image = await uploadAndWait(stack.api.url, flat, 'flat.png');
    assert.equal(image.status, 'done');
    id = image.id;
  });

  after(async () => {
    await stack?.close();
  });

  for (const dpr of [1, 1.5, 2]) {
    test(`device pixel ratio ${dpr}: fractional zooms show the flat colour everywhere inside the image`, async () => {
      const context = await stack.browser.newContext({ viewport: { width: 1000, height: 700 }, deviceScaleFactor: dpr });
      try {
        const page = await context.newPage();
        const errors = collectPageErrors(page);
        await page.goto(`${stack.api.url}/v/${id}?annotations=0`);
        await page.waitForSelector('body[data-ready=true]', WAIT);
        // Only the tiles: no controls over the image, no thumbnail underneath that could hide a gap, no fade-in.
        await page.addStyleTag({
          content: '.leaflet-control-container, .leaflet-thumbnail-pane { display: none !important } .leaflet-tile { transition: none !important; opacity: 1 !important }',
        });
        const tested: string[] = [];
        for (const zoom of [10.25, 10.5, 10.75, 11.25, 11.75, 12.25]) {
          const shown = await page.evaluate((z) => {
            const map = (window as any).hugemapMap;
            map.setZoom(z, { animate: false });
            return map.getZoom();
          }, zoom);
          if (shown !== zoom) continue; // below "whole image fits" for this window
          await page.waitForFunction(() => !(window as any).hugemapTiles.isLoading(), null, WAIT);
          const found = await offColourPixels(page, `seams-dpr${dpr}-z${zoom}`);
          assert.equal(found.count, 0, `zoom ${zoom} at ${dpr}x: ${found.count} of ${found.width}x${found.height} pixels off colour, e.g. ${found.first.join(' ')}`);
          tested.push(String(zoom));
        }
        assert.ok(tested.length >= 4, `fractional zooms tested: ${tested.join(', ')}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  }
});
