/**
 * `npm run screenshots`: the README's pictures, made from the real app. Starts
 * Redis, FerretDB and MinIO on loopback ports as the tests do (or uses
 * REDIS_URL / MONGO_URL / S3_ENDPOINT), the API and a worker in this process,
 * uploads a generated map through the web page in headless chromium, draws
 * annotations through the API, and saves:
 *
 *   docs/screenshot-upload.png   the upload page: a finished upload and a refused file
 *   docs/screenshot-viewer.png   the viewer with the annotations
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { startTestServers } from '../test/helpers/servers.js';
import { dropFiles, itemResult, startWebStack, WAIT } from '../test/helpers/web-stack.js';

const DOCS = join(fileURLToPath(new URL('..', import.meta.url)), 'docs');
const WIDTH = 8000;
const HEIGHT = 5000;

/** A made-up harbour chart: sea, two islands, a grid and labels, so zooming shows something. */
async function harbourChart(): Promise<Buffer> {
  const grid: string[] = [];
  for (let x = 0; x <= WIDTH; x += 500) grid.push(`<line x1="${x}" y1="0" x2="${x}" y2="${HEIGHT}" stroke="#ffffff" stroke-opacity="0.18" stroke-width="4"/>`);
  for (let y = 0; y <= HEIGHT; y += 500) grid.push(`<line x1="0" y1="${y}" x2="${WIDTH}" y2="${y}" stroke="#ffffff" stroke-opacity="0.18" stroke-width="4"/>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">
  <defs>
    <radialGradient id="sea" cx="50%" cy="45%" r="75%"><stop offset="0" stop-color="#3d7ea6"/><stop offset="1" stop-color="#173a5e"/></radialGradient>
    <linearGradient id="land" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#d9c38a"/><stop offset="0.5" stop-color="#8fae6b"/><stop offset="1" stop-color="#5d8a4f"/></linearGradient>
  </defs>
  <rect width="${WIDTH}" height="${HEIGHT}" fill="url(#sea)"/>
  ${grid.join('')}
  <path d="M600 900 C 1400 300, 2900 500, 3400 1300 S 3900 2900, 2900 3500 S 900 4200, 700 3100 S -100 1500, 600 900 Z" fill="url(#land)" stroke="#f2e6c4" stroke-width="30"/>
  <path d="M5200 2300 C 5900 1700, 7300 1900, 7500 2800 S 6900 4400, 6000 4300 S 4800 3100, 5200 2300 Z" fill="url(#land)" stroke="#f2e6c4" stroke-width="30"/>
  <circle cx="2200" cy="2700" r="260" fill="#c9b27a" stroke="#7b6a3c" stroke-width="12"/>
  <text x="1250" y="2000" font-family="DejaVu Serif, serif" font-size="260" fill="#2f3b24">Great Isle</text>
  <text x="5500" y="3200" font-family="DejaVu Serif, serif" font-size="200" fill="#2f3b24">Little Isle</text>
  <text x="3500" y="4700" font-family="DejaVu Serif, serif" font-style="italic" font-size="180" fill="#ffffff" fill-opacity="0.7">The Sound</text>
  <text x="5200" y="800" font-family="DejaVu Sans, sans-serif" font-size="120" fill="#ffffff" fill-opacity="0.6">hugemap · 8000 x 5000 px</text>
</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
}

async function main(): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const servers = await startTestServers();
  const stack = await startWebStack(servers, 'screenshots').catch(async (err: unknown) => {
    await servers.stop();
    throw err;
  });
  try {
    mkdirSync(DOCS, { recursive: true });
    const page = await stack.context.newPage();
    await page.goto(`${stack.api.url}/`);
    // A text file beside the map: the page shows a refusal with its error code.
    await dropFiles(page, [
      { name: 'harbour-chart.jpg', type: 'image/jpeg', bytes: await harbourChart() },
      { name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('not a picture\n') },
    ]);
    const item = await itemResult(page, 'harbour-chart.jpg');
    if (item.state !== 'done' || !item.imageId) throw new Error(`upload did not finish: ${JSON.stringify(item)}`);
    const refused = await itemResult(page, 'notes.txt');
    if (refused.state === 'done') throw new Error('notes.txt was accepted');
    const bottom = await page.locator('.item').last().evaluate((el) => el.getBoundingClientRect().bottom);
    await page.screenshot({ path: join(DOCS, 'screenshot-upload.png'), clip: { x: 0, y: 0, width: 1200, height: Math.min(800, Math.ceil(bottom) + 32) } });

    const id = item.imageId;
    const annotations = `${stack.api.url}/api/v1/images/${id}/annotations`;
    await post(annotations, { type: 'marker', points: [[2200, 2700]], title: 'Lighthouse', comment: 'Built 1871' });
    await post(annotations, { type: 'rectangle', points: [[4700, 1500], [7800, 4600]], title: 'Survey area' });
    await post(annotations, { type: 'polygon', points: [[3300, 3700], [4300, 3900], [4700, 4700], [3400, 4850], [3000, 4300]], title: 'Anchorage' });
    await post(annotations, { type: 'circle', points: [[1500, 3300]], radius: 350, title: 'Shoal' });

    const viewer = await stack.context.newPage();
    await viewer.goto(`${stack.api.url}/v/${id}`);
    await viewer.waitForFunction(() => {
      const w = window as unknown as { hugemapTiles?: { isLoading(): boolean } };
      return w.hugemapTiles !== undefined && !w.hugemapTiles.isLoading() && document.querySelectorAll('img.leaflet-tile-loaded').length > 0;
    }, undefined, WAIT);
    await viewer.locator('.leaflet-overlay-pane path').first().waitFor(WAIT);
    await viewer.screenshot({ path: join(DOCS, 'screenshot-viewer.png') });
    console.log(`screenshots: wrote ${join(DOCS, 'screenshot-upload.png')} and ${join(DOCS, 'screenshot-viewer.png')}`);
  } finally {
    await stack.close();
    await servers.stop();
  }
}

await main();
