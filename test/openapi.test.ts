/**
 * The API reference: GET /api/v1/openapi.json is an OpenAPI 3.1 document that
 * lists every /api/v1 route the app serves (found by walking its router) with
 * the access rule the route declares, and /api/docs shows it from this origin
 * alone, in a real browser.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../services/api/app.js';
import { openApiDocument } from '../services/api/openapi/document.js';
import { createLogger } from '../shared/logger.js';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { documented } from './helpers/openapi.js';
import { servedRoutes } from './helpers/routes.js';
import { collectPageErrors, skipWithoutChromium, launchBrowser, screenshot } from './helpers/browser.js';

let api: TestApi;
after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'openapi');
});

type Operation = { responses: Record<string, unknown>; 'x-hugemap-access'?: string; requestBody?: unknown };

const REQUIRED_PATHS = ['/api/v1/images', '/api/v1/images/{id}', '/api/v1/images/{id}/annotations', '/api/v1/images/{id}/events'];

describe('GET /api/v1/openapi.json', () => {
  test('is OpenAPI 3.1 with at least 15 /api/v1 paths, the required ones, request bodies and the shared error body', async () => {
    const res = await fetch(`${api.base}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\.1\./);
    const apiPaths = Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/'));
    assert.ok(apiPaths.length >= 15, `only ${apiPaths.length} /api/v1 paths`);
    for (const p of REQUIRED_PATHS) assert.ok(doc.paths[p], `missing ${p}`);
    assert.ok(doc.paths['/api/v1/images']!.post!.requestBody, 'POST /api/v1/images has no request body');
    assert.ok(doc.paths['/api/v1/images/{id}/annotations']!.post!.requestBody, 'POST annotations has no request body');
    assert.deepEqual(doc.components.schemas.Error, {
      type: 'object',
      properties: {
        error: {
          type: 'object',
          properties: {
            code: { type: 'string', pattern: '^HUGEMAP_ERR_[A-Z_]+$', example: 'HUGEMAP_ERR_NOT_FOUND' },
            message: { type: 'string', example: 'image AbCdEfGhIjKlMnOpQrStUv not found' },
          },
          required: ['code', 'message'],
        },
      },
      required: ['error'],
      description: 'The body of every 4xx and 5xx answer.',
    });
    // Every operation answers something and says who may call it.
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} lists no responses`);
        assert.ok(op['x-hugemap-access'], `${method} ${path} has no x-hugemap-access`);
      }
    }
    // The served document is the one the helper validates against.
    assert.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));
  });

  test('lists every /api/v1 route of the app, with the access rule the route declares', () => {
    const app = createApp({ config: api.config, store: api.store, events: api.events, queue: api.queue, s3: api.s3, logger: createLogger('openapi-test', 'silent') });
    const doc = openApiDocument();
    const paths = doc.paths as Record<string, Record<string, Operation>>;
    const routes = servedRoutes(app).filter((r) => r.path.startsWith('/api/v1/') || r.path === '/healthz' || r.path === '/readyz');
    assert.ok(routes.length >= 20, `the router walk found only ${routes.length} routes: ${JSON.stringify(routes)}`);
    const missing: string[] = [];
    const wrongRule: string[] = [];
    for (const route of routes) {
      // A mounted handler (tus) owns everything below its path.
      const ops =
        route.method === 'use'
          ? Object.entries(paths).filter(([p]) => p === route.path || p.startsWith(`${route.path}/`)).flatMap(([, item]) => Object.values(item))
          : [paths[route.path]?.[route.method]].filter((op): op is Operation => op !== undefined);
      if (ops.length === 0) {
        missing.push(`${route.method.toUpperCase()} ${route.path}`);
        continue;
      }
      for (const op of ops) if (op['x-hugemap-access'] !== route.rule) wrongRule.push(`${route.method.toUpperCase()} ${route.path}: requires('${route.rule}'), document says ${op['x-hugemap-access']}`);
    }
    assert.deepEqual(missing, [], `routes missing from the OpenAPI document (add them in services/api/openapi/paths/): ${missing.join(', ')}`);
    assert.deepEqual(wrongRule, []);
  });

  test('the helper refuses an answer the document does not describe', async () => {
    const wrong = new Response(JSON.stringify({ id: 'x', status: 'queued' }), { status: 200, headers: { 'content-type': 'application/json' } });
    await assert.rejects(documented(wrong, 'get', '/api/v1/images/{id}'), /does not match the OpenAPI document/);
    const unlisted = new Response('{}', { status: 418, headers: { 'content-type': 'application/json' } });
    await assert.rejects(documented(unlisted, 'get', '/api/v1/images/{id}'), /does not list/);
    await assert.rejects(documented(new Response('{}'), 'get', '/api/v1/nothing'), /has no GET \/api\/v1\/nothing/);
  });

  test('answers of the service routes match the document', async () => {
    await documented(await fetch(`${api.base}/healthz`), 'get', '/healthz');
    await documented(await fetch(`${api.base}/readyz`), 'get', '/readyz');
    await documented(await fetch(`${api.base}/api/v1/tags`), 'get', '/api/v1/tags');
    await documented(await fetch(`${api.base}/api/v1/images/random`), 'get', '/api/v1/images/random');
    const error = (await documented(await fetch(`${api.base}/api/v1/images/AAAAAAAAAAAAAAAA`), 'get', '/api/v1/images/{id}')) as { error: { code: string } };
    assert.equal(error.error.code, 'HUGEMAP_ERR_NOT_FOUND');
  });
});

describe('GET /api/docs', () => {
  test('answers 200 with the page and its two Swagger UI files; nothing else of the package is served', async () => {
    const page = await fetch(`${api.base}/api/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page names another host');
    for (const [asset, type] of [['swagger-ui.css', /^text\/css/], ['swagger-ui-bundle.js', /^text\/javascript/]] as const) {
      const res = await fetch(`${api.base}/api/docs/${asset}`);
      assert.equal(res.status, 200, asset);
      assert.match(res.headers.get('content-type') ?? '', type);
      assert.ok((await res.arrayBuffer()).byteLength > 10_000, asset);
    }
    // The package's own initializer points at a demo API on the internet.
    assert.equal((await fetch(`${api.base}/api/docs/swagger-initializer.js`)).status, 404);
    assert.equal((await fetch(`${api.base}/api/docs/..%2Fpackage.json`)).status, 404);
  });

  test('in a browser: shows the operations and loads nothing from another origin', { skip: skipWithoutChromium() }, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors = collectPageErrors(page);
      const requested: string[] = [];
      const failed: string[] = [];
      page.on('request', (req) => requested.push(req.url()));
      page.on('response', (res) => {
        if (res.status() >= 400) failed.push(`${res.status()} ${res.url()}`);
      });
      await page.goto(`${api.base}/api/docs`, { waitUntil: 'networkidle' });
      await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
      const summaries = await page.locator('.opblock-summary-path').allTextContents();
      const shown = summaries.map((s) => s.replace(/\u200b/g, '').trim());
      for (const p of REQUIRED_PATHS) assert.ok(shown.includes(p), `${p} not shown; shown: ${shown.join(', ')}`);
      assert.ok(shown.length >= 20, `only ${shown.length} operations shown`);
      await screenshot(page, 'api-docs');
      assert.deepEqual(failed, []);
      assert.deepEqual(errors, []);
      const origin = new URL(api.base).origin;
      const elsewhere = requested.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin);
      assert.deepEqual(elsewhere, [], 'requests that left the origin');
      assert.ok(requested.some((u) => u.endsWith('/api/v1/openapi.json')), 'the page did not load the document');
    } finally {
      await browser.close();
    }
  });
});
