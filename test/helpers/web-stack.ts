/**
 * The web tests' stack: API and worker in-process against the shared test
 * servers, and a chromium browser; plus page helpers (dropping files, reading
 * an upload item, collecting tiles).
 */
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { TestServers } from './servers.js';
import { testConfig, waitFor } from './test-config.js';
import type { Config } from '../../shared/config.js';
import { launchBrowser } from './browser.js';
import { startApiServer, type ApiServer } from '../../services/api/server.js';
import { startWorker, type RunningWorker } from '../../workers/start-worker.js';

export const WAIT = { timeout: 20_000 };

export interface WebStack {
  /** The stack's config (its own database, bucket and queue prefix). */
  config: Config;
  api: ApiServer;
  worker: RunningWorker;
  browser: Browser;
  /** Desktop-sized (1200 x 800). */
  context: BrowserContext;
  close(): Promise<void>;
}

export async function startWebStack(servers: TestServers, name: string, overrides: Record<string, string> = {}): Promise<WebStack> {
  const config = await testConfig(servers, name, overrides);
  const api = await startApiServer(config, {});
  const worker = await startWorker(config);
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  return {
    config,
    api,
    worker,
    browser,
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
      await worker.close();
      await api.close();
    },
  };
}

/** Uploads through the multipart API and waits for the job to end; returns the image. */
export async function uploadAndWait(apiUrl: string, bytes: Buffer, filename: string): Promise<{ id: string; status: string }> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), filename);
  const res = await fetch(`${apiUrl}/api/v1/images`, { method: 'POST', body: form });
  const { id } = (await res.json()) as { id: string };
  return waitFor(`image ${id} to finish`, async () => {
    const doc = (await (await fetch(`${apiUrl}/api/v1/images/${id}`)).json()) as { id: string; status: string };
    return doc.status === 'done' || doc.status === 'failed' ? doc : undefined;
  }, 60_000, 200);
}

/** A labelled grid, so a screenshot shows at once whether tiles sit in the right place. */
export async function gridImage(width: number, height: number, hue: number): Promise<Buffer> {
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
export async function dropFiles(page: Page, files: Array<{ name: string; type: string; bytes: Buffer }>): Promise<void> {
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
export async function itemResult(page: Page, name: string) {
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

export interface TileInfo {
  src: string;
  level: number;
  x: number;
  y: number;
  /** Drawn width in CSS pixels of the level: the image's width, plus the copied seam edge where a neighbour follows. */
  width: number;
  naturalWidth: number;
  left: number;
  right: number;
}

/** Sets the zoom, waits for the tile layer to finish, and describes the loaded tiles of the current level. */
export async function zoomAndCollect(page: Page, zoom: number): Promise<{ tiles: TileInfo[]; imageLeft: number; imageRight: number }> {
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
    // Tiles are canvases (web/js/dz-layer.js): the URL and the image's own size are in data attributes.
    const tiles = [...document.querySelectorAll('.leaflet-tile-loaded')]
      .map((el) => el as HTMLCanvasElement)
      .filter((el) => Number(el.dataset.level) === level)
      .map((el) => {
        const m = /\/(\d+)\/(\d+)_(\d+)\.\w+$/.exec(el.dataset.src!)!;
        const r = el.getBoundingClientRect();
        return { src: el.dataset.src!, level: Number(m[1]), x: Number(m[2]), y: Number(m[3]), width: parseFloat(el.style.width), naturalWidth: Number(el.dataset.naturalWidth), left: r.left - box.left, right: r.right - box.left };
      });
    const left = map.latLngToContainerPoint([0, 0]).x;
    const right = map.latLngToContainerPoint([0, w.hugemapTiles._dz.width]).x;
    return { tiles, imageLeft: left, imageRight: right };
  });
}

/** Where image pixel (x, y) is on the page, through the viewer's map (window.hugemapMap). */
export function screenPointOf(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  return page.evaluate(([xx, yy]) => {
    const map = (window as any).hugemapMap;
    const box = map.getContainer().getBoundingClientRect();
    const p = map.latLngToContainerPoint([yy, xx]);
    return { x: box.left + p.x, y: box.top + p.y };
  }, [x, y] as const);
}
