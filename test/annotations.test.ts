/** Annotations API against real FerretDB: CRUD in image pixel coordinates, validation, scoping to one image. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { newImageDoc } from '../shared/image-status.js';
import { newImageId } from '../services/api/image-id.js';
import { documented } from './helpers/openapi.js';

const servers = await useTestServers();

/** Every answer is also checked against the OpenAPI document (test/helpers/openapi.ts). */
async function call(api: TestApi, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const template = path.replace(/^\/api\/v1\/images\/[^/]+/, '/api/v1/images/{id}').replace(/\/annotations\/[^/]+$/, '/annotations/{annotationId}');
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
