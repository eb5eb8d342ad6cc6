/** Annotations API against real FerretDB: CRUD in image pixel coordinates, validation, scoping to one image. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { newImageDoc } from '../shared/image-status.js';
import { newImageId } from '../services/api/image-id.js';
import { DEFAULT_PAGE_SIZE, MAX_ANNOTATIONS_PER_IMAGE, MAX_COMMENT_CHARS, MAX_PAGE_SIZE, MAX_POINTS } from '../shared/annotations-store.js';
import { documented } from './helpers/openapi.js';

const servers = await useTestServers();

/** Every answer is also checked against the OpenAPI document (test/helpers/openapi.ts). */
async function call(api: TestApi, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const template = path.replace(/\?.*$/, '').replace(/^\/api\/v1\/images\/[^/]+/, '/api/v1/images/{id}').replace(/\/annotations\/[^/]+$/, '/annotations/{annotationId}');
  const json = await documented(res, method, template);
  return { status: res.status, json: typeof json === 'string' ? (json ? JSON.parse(json) : null) : json };
}

const newId = () => newImageId();

describe('annotations API', () => {
  let api: TestApi;
  let imageId: string;
  let otherImage: string;
  const base = () => `/api/v1/images/${imageId}/annotations`;

  before(async () => {
    api = await startTestApi(servers, 'annotations');
    imageId = newId();
    otherImage = newId();
    await api.store.create(newImageDoc(imageId, { kind: 'url', url: 'http://example.org/a.jpg' }, 'A'));
    await api.store.create(newImageDoc(otherImage, { kind: 'url', url: 'http://example.org/b.jpg' }, 'B'));
  });
  after(async () => api?.close());

  test('each shape is stored in pixel coordinates and listed back in creation order', async () => {
    const shapes = [
      { type: 'marker', points: [[100.5, 200]] },
      { type: 'line', points: [[0, 0], [1500, 1000], [20, 30]] },
      { type: 'rectangle', points: [[10, 20], [300, 400]] },
      { type: 'circle', points: [[750, 500]], radius: 120.25 },
      { type: 'polygon', points: [[1, 1], [50, 1], [25, 40]] },
    ];
    const created = [];
    for (const [i, shape] of shapes.entries()) {
      const res = await call(api, 'POST', base(), { ...shape, title: ` Shape ${i} `, comment: 'note' });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      assert.equal(res.json.type, shape.type);
      assert.deepEqual(res.json.points, shape.points);
      assert.equal(res.json.title, `Shape ${i}`, 'titles are trimmed');
      assert.equal(res.json.imageId, imageId);
      created.push(res.json);
    }
    assert.equal(created[3].radius, 120.25);
    const list = await call(api, 'GET', base());
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.items.map((a: any) => a.id), created.map((a) => a.id));
    assert.deepEqual((await call(api, 'GET', `/api/v1/images/${otherImage}/annotations`)).json.items, [], 'other images see none');
  });

  test('PATCH changes text and geometry but never the type; DELETE removes', async () => {
    const { json: a } = await call(api, 'POST', base(), { type: 'rectangle', points: [[0, 0], [10, 10]] });
    assert.equal(a.title, '');
    const renamed = await call(api, 'PATCH', `${base()}/${a.id}`, { title: 'Harbour', comment: 'the old one' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.json.title, 'Harbour');
    assert.deepEqual(renamed.json.points, [[0, 0], [10, 10]]);
    const moved = await call(api, 'PATCH', `${base()}/${a.id}`, { points: [[5, 5], [25, 35]] });
    assert.deepEqual(moved.json.points, [[5, 5], [25, 35]]);
    assert.equal(moved.json.comment, 'the old one');
    const badShape = await call(api, 'PATCH', `${base()}/${a.id}`, { points: [[1, 1]] });
    assert.equal(badShape.status, 400, 'a rectangle needs two corners');
    assert.equal((await call(api, 'PATCH', `${base()}/${a.id}`, { type: 'circle' })).status, 400);
    assert.equal((await call(api, 'PATCH', `/api/v1/images/${otherImage}/annotations/${a.id}`, { title: 'x' })).status, 404, 'scoped to its image');
    assert.equal((await call(api, 'DELETE', `${base()}/${a.id}`)).status, 204);
    assert.equal((await call(api, 'DELETE', `${base()}/${a.id}`)).status, 404);
    assert.ok(!(await call(api, 'GET', base())).json.items.some((x: any) => x.id === a.id));
  });

  test('bad shapes, unknown fields and missing images are refused with codes', async () => {
    const cases: Array<[unknown, number]> = [
      [{ type: 'marker', points: [[1, 2], [3, 4]] }, 400],
      [{ type: 'line', points: [[1, 2]] }, 400],
      [{ type: 'polygon', points: [[1, 2], [3, 4]] }, 400],
      [{ type: 'circle', points: [[1, 2]] }, 400],
      [{ type: 'circle', points: [[1, 2]], radius: -3 }, 400],
      [{ type: 'hexagon', points: [[1, 2]] }, 400],
      [{ type: 'marker', points: [['a', 2]] }, 400],
      [{ type: 'marker', points: [[1, 2]], colour: 'red' }, 400],
      [{ type: 'marker', points: [[1, 2]], title: 'x'.repeat(201) }, 400],
    ];
    for (const [body, status] of cases) {
      const res = await call(api, 'POST', base(), body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(res.json.error.code, 'HUGEMAP_ERR_BAD_REQUEST');
    }
    const missing = await call(api, 'GET', `/api/v1/images/${newId()}/annotations`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'HUGEMAP_ERR_NOT_FOUND');
    assert.equal((await call(api, 'GET', '/api/v1/images/bad!id/annotations')).status, 400);
  });

  test('W3C: every shape exported as an Annotation on the canvas, and imported back the same', async () => {
    const source = newId();
    const target = newId();
    await api.store.create(newImageDoc(source, { kind: 'url', url: 'http://example.org/w.jpg' }, 'W'));
    await api.store.create(newImageDoc(target, { kind: 'url', url: 'http://example.org/w2.jpg' }, 'W2'));
    const shapes = [
      { type: 'marker', points: [[100.5, 200]], title: 'A point', comment: '' },
      { type: 'line', points: [[0, 0], [1500, 1000], [20.25, 30]], title: '', comment: 'a path' },
      { type: 'rectangle', points: [[10, 20], [300, 400]], title: 'Box', comment: 'with <b>markup</b> & text' },
      { type: 'circle', points: [[750, 500]], radius: 120.25, title: 'Round', comment: 'c' },
      { type: 'polygon', points: [[1, 1], [50, 1], [25, 40]], title: 'Tri', comment: 'p' },
    ];
    for (const shape of shapes) assert.equal((await call(api, 'POST', `/api/v1/images/${source}/annotations`, shape)).status, 201);
    const res = await fetch(`${api.base}/api/v1/images/${source}/annotations?format=w3c`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/ld\+json/);
    const page = await res.json();
    assert.equal(page['@context'], 'http://www.w3.org/ns/anno.jsonld');
    assert.equal(page.type, 'AnnotationPage');
    assert.equal(page.items.length, 5);
    const canvas = `${api.base}/iiif/3/${source}/canvas/1`;
    for (const a of page.items) {
      assert.equal(a.type, 'Annotation');
      assert.equal(a.target.source, canvas);
      assert.ok(['SvgSelector', 'FragmentSelector'].includes(a.target.selector.type));
      assert.match(a.id, new RegExp(`^${api.base}/api/v1/images/${source}/annotations/[A-Za-z0-9_-]+$`));
    }
    assert.deepEqual(page.items[2].target.selector, { type: 'FragmentSelector', conformsTo: 'http://www.w3.org/TR/media-frags/', value: 'xywh=pixel:10,20,290,380' });
    assert.equal(page.items[4].target.selector.value, '<svg xmlns="http://www.w3.org/2000/svg"><polygon points="1,1 50,1 25,40"/></svg>');
    assert.deepEqual(page.items[2].body, [
      { type: 'TextualBody', value: 'Box', purpose: 'tagging', format: 'text/plain' },
      { type: 'TextualBody', value: 'with <b>markup</b> & text', purpose: 'commenting', format: 'text/plain' },
    ]);

    const imported = await fetch(`${api.base}/api/v1/images/${target}/annotations`, { method: 'POST', headers: { 'Content-Type': 'application/ld+json' }, body: JSON.stringify(page) });
    assert.equal(imported.status, 201, await imported.clone().text());
    assert.equal((await imported.json()).items.length, 5);
    const back = (await call(api, 'GET', `/api/v1/images/${target}/annotations`)).json.items;
    const strip = ({ type, points, radius, title, comment }: any) => ({ type, points, ...(radius === undefined ? {} : { radius }), title, comment });
    assert.deepEqual(back.map(strip), shapes.map(strip), 'the same five shapes, texts and order');

    // Annotorious-style input: a rect in SVG, a bare body; and refusals that import nothing.
    const foreign = {
      type: 'AnnotationPage',
      items: [{ type: 'Annotation', body: { type: 'TextualBody', value: 'hello' }, target: { source: canvas, selector: { type: 'SvgSelector', value: '<svg><rect x="5" y="6" width="10" height="20"></rect></svg>' } } }],
    };
    const one = await call(api, 'POST', `/api/v1/images/${target}/annotations`, foreign);
    assert.equal(one.status, 201);
    assert.deepEqual([one.json.items[0].type, one.json.items[0].points, one.json.items[0].comment], ['rectangle', [[5, 6], [15, 26]], 'hello']);
    for (const selector of [{ type: 'SvgSelector', value: '<svg><path d="M0 0"/></svg>' }, { type: 'CssSelector', value: '#x' }, { type: 'FragmentSelector', value: 't=10' }]) {
      const bad = { type: 'AnnotationPage', items: [page.items[0], { type: 'Annotation', target: { source: canvas, selector } }] };
      const r = await call(api, 'POST', `/api/v1/images/${target}/annotations`, bad);
      assert.equal(r.status, 400, JSON.stringify(selector));
      assert.match(r.json.error.message, /items\.1/);
    }
    assert.equal((await call(api, 'GET', `/api/v1/images/${target}/annotations`)).json.items.length, 6, 'a refused page imports nothing');
  });

  test('caps: text length, points per shape, annotations per image, body size; the list is paged', async () => {
    const img = newId();
    await api.store.create(newImageDoc(img, { kind: 'url', url: 'http://example.org/p.jpg' }, 'P'));
    const url = `/api/v1/images/${img}/annotations`;
    const line = (n: number) => Array.from({ length: n }, (_, i) => [i, i]);
    assert.equal((await call(api, 'POST', url, { type: 'line', points: line(MAX_POINTS) })).status, 201);
    assert.equal((await call(api, 'POST', url, { type: 'polygon', points: line(MAX_POINTS + 1) })).status, 400);
    assert.equal((await call(api, 'POST', url, { type: 'marker', points: [[1, 1]], comment: 'x'.repeat(MAX_COMMENT_CHARS + 1) })).status, 400);
    assert.equal((await call(api, 'POST', url, { type: 'marker', points: [[1, 1]], comment: 'x'.repeat(MAX_COMMENT_CHARS) })).status, 201);
    const huge = await fetch(`${api.base}${url}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ type: 'marker', points: [[1, 1]], pad: 'x'.repeat(3 * 1024 * 1024) }) });
    assert.ok([400, 413].includes(huge.status), `an oversized body is refused (${huge.status})`);
    // Fill the image up to the cap with one import, then one more is refused.
    const room = MAX_ANNOTATIONS_PER_IMAGE - 2;
    const page = {
      type: 'AnnotationPage',
      items: Array.from({ length: room }, (_, i) => ({ type: 'Annotation', target: { source: 'x', selector: { type: 'FragmentSelector', value: `xywh=pixel:${i},0,0,0` } } })),
    };
    const filled = await call(api, 'POST', url, page);
    assert.equal(filled.status, 201, JSON.stringify(filled.json).slice(0, 300));
    const over = await call(api, 'POST', url, { type: 'marker', points: [[1, 1]] });
    assert.equal(over.status, 400);
    assert.match(over.json.error.message, new RegExp(`at most ${MAX_ANNOTATIONS_PER_IMAGE}`));

    // Paged: 100 by default, `next` until the end, every annotation exactly once, in creation order.
    const first = await call(api, 'GET', url);
    assert.equal(first.json.items.length, DEFAULT_PAGE_SIZE);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; json: any } = await call(api, 'GET', `${url}?limit=${MAX_PAGE_SIZE}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(res.status, 200);
      seen.push(...res.json.items.map((a: any) => a.id));
      cursor = res.json.next;
      pages++;
    } while (cursor);
    assert.equal(pages, Math.ceil(MAX_ANNOTATIONS_PER_IMAGE / MAX_PAGE_SIZE));
    assert.equal(seen.length, MAX_ANNOTATIONS_PER_IMAGE);
    assert.equal(new Set(seen).size, MAX_ANNOTATIONS_PER_IMAGE);
    assert.equal(seen[0], first.json.items[0].id);
    const w3c = await call(api, 'GET', `${url}?format=w3c&limit=50`);
    assert.equal(w3c.json.items.length, 50);
    assert.match(w3c.json.next, /format=w3c&limit=50&cursor=/);
    for (const q of ['limit=0', `limit=${MAX_PAGE_SIZE + 1}`, 'cursor=nonsense', 'format=xml']) assert.equal((await call(api, 'GET', `${url}?${q}`)).status, 400, q);
  });

  test('deleting an image deletes its annotations, and only its', async () => {
    const doomed = newId();
    await api.store.create(newImageDoc(doomed, { kind: 'url', url: 'http://example.org/c.jpg' }, 'C'));
    assert.equal((await call(api, 'POST', `/api/v1/images/${doomed}/annotations`, { type: 'marker', points: [[1, 2]] })).status, 201);
    const kept = await call(api, 'POST', `/api/v1/images/${otherImage}/annotations`, { type: 'marker', points: [[3, 4]] });
    assert.equal(kept.status, 201);
    assert.equal((await call(api, 'DELETE', `/api/v1/images/${doomed}`)).status, 204);
    const left = await api.store.images.db.collection('annotations').countDocuments({ imageId: doomed });
    assert.equal(left, 0);
    const others = await call(api, 'GET', `/api/v1/images/${otherImage}/annotations`);
    assert.ok(others.json.items.some((a: { id: string }) => a.id === kept.json.id));
  });
});
