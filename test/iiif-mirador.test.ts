/**
 * Mirador (its prebuilt bundle from npm, fetched by tools/install-mirador.sh,
 * served by this test from an origin of its own) opens an image's IIIF
 * manifest from the real stack in Chromium, and its canvas shows the image's
 * tiles. Skipped with a message without Chromium or the bundle, except under
 * CI=true, where a missing bundle fails.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';
import { launchBrowser, screenshot, skipWithoutChromium } from './helpers/browser.js';
import { waitFor } from './helpers/test-config.js';

const BUNDLE = path.join(process.env.HUGEMAP_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'hugemap-tools'), 'mirador', 'mirador.min.js');
const required = process.env.CI === 'true';
const skip = skipWithoutChromium() || (!existsSync(BUNDLE) && !required && `Mirador's bundle is not installed (${BUNDLE}); run tools/install-mirador.sh`);

const servers = await useTestServers();

/** A page that opens `manifest` in Mirador, and the bundle, on a loopback origin of its own. */
async function serveMirador(manifest: string): Promise<{ url: string; close(): Promise<void> }> {
  const bundle = await readFile(BUNDLE);
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Mirador</title></head>
<body style="margin:0"><div id="mirador" style="position:absolute;inset:0"></div>
<script src="/mirador.min.js"></script>
<script>Mirador.viewer({ id: 'mirador', windows: [{ manifestId: ${JSON.stringify(manifest)}, thumbnailNavigationPosition: 'off' }], window: { sideBarOpen: false } });</script>
</body></html>`;
  const server = http.createServer((req, res) => {
    if (req.url === '/mirador.min.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
    else if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html' }).end(page);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('Mirador opens the IIIF manifest', { skip }, () => {
  let svc: ImageService;
  let browser: Browser;
  let id: string;

  before(async () => {
    assert.ok(existsSync(BUNDLE), `CI=true and Mirador's bundle is missing: ${BUNDLE} (tools/install-mirador.sh fetches it)`);
    svc = await startImageService(servers, 'iiif-mirador');
    id = (await upload(svc.url, await patterned(2400, 1600), 'mirador.jpg', { title: 'Mirador test' })).json.id;
    await waitUntilDone(svc.url, id);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await svc?.close();
  });

  test('the canvas shows tiles from the image service', async () => {
    const manifest = `${svc.url}/iiif/3/${id}/manifest.json`;
    const site = await serveMirador(manifest);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const tiles: string[] = [];
    page.on('response', (res) => {
      if (res.url().startsWith(`${svc.url}/iiif/3/${id}/`) && res.status() === 200 && (res.headers()['content-type'] ?? '').startsWith('image/')) tiles.push(res.url());
    });
    try {
      await page.goto(site.url);
      await waitFor('Mirador to load image tiles', async () => (tiles.length >= 2 ? true : undefined), 60_000, 200);
      // OpenSeadragon draws the tiles into its canvas: wait until it holds the picture, not a blank.
      const canvas = page.locator('.openseadragon-canvas canvas').first();
      await canvas.waitFor({ timeout: 30_000 });
      const stats = await waitFor(
        'the OpenSeadragon canvas to show the image',
        async () => {
          const s = await sharp(await canvas.screenshot()).stats();
          return s.channels.slice(0, 3).every((c) => c.stdev > 20) ? s : undefined;
        },
        30_000,
        250,
      );
      await screenshot(page, 'iiif-mirador');
      // The patterned image's red rises left to right and its green top to bottom: so do the canvas's.
      assert.ok(stats.channels[0]!.stdev > 20 && stats.channels[1]!.stdev > 20, JSON.stringify(stats.channels));
      assert.ok(await page.getByText('Mirador test').first().isVisible(), 'the manifest label is shown');
      assert.ok(tiles.some((u) => /\/iiif\/3\/[^/]+\/[^/]+\/[^/]+\/0\/default\.jpg$/.test(u)), tiles.join('\n'));
    } finally {
      await page.close();
      await site.close();
    }
  });
});
