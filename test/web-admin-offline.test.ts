/**
 * The queue dashboard works offline: in a real browser, /admin/queues loads
 * nothing from any host but the app (bull-board's page links Google Fonts;
 * routes/admin.ts removes the link), and the board still renders.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi } from './helpers/api-harness.js';
import { skipWithoutChromium, launchBrowser } from './helpers/browser.js';

const servers = await useTestServers();
const TOKEN = 'offline-admin-token-0123456789';

test('the queue dashboard loads everything from the app itself', { skip: skipWithoutChromium() }, async () => {
  const api = await startTestApi(servers, 'admin-offline', { ADMIN_TOKEN: TOKEN });
  after(() => api.close());
  const html = await (await fetch(`${api.base}/admin/queues`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  assert.match(html, /<link href="static\/css\/main\.[0-9a-f]+\.css"/, 'bull-board\'s own stylesheet stays');
  assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)/, 'no absolute URL of another host in the page');

  const browser = await launchBrowser();
  after(() => browser.close());
  const context = await browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` } });
  const page = await context.newPage();
  const elsewhere: string[] = [];
  const origin = new URL(api.base).origin;
  // Any request to another host is recorded and refused, as it would be on a machine without internet.
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  await page.goto(`${api.base}/admin/queues`, { waitUntil: 'networkidle' });
  await page.getByText('tile-image').first().waitFor({ timeout: 30_000 });
  assert.deepEqual(elsewhere, []);
});
