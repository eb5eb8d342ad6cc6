/** Browsing, tags and metadata edits against a real API and MongoDB (no worker needed). */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newImageDoc } from '../shared/image-status.js';
import { useTestServers } from './helpers/servers.js';
import { startImageService, type ImageService } from './helpers/image-service.js';

const servers = await useTestServers();

const idOf = (n: number) => `Browse${String(n).padStart(16, '0')}`;

describe('browsing and tags', () => {
  let svc: ImageService;
  const api = (path: string, init?: RequestInit) => fetch(`${svc.url}${path}`, init);
  const json = async (path: string, init?: RequestInit) => {
    const res = await api(path, init);
    return { status: res.status, body: await res.json() };
  };

  /** Five images a second apart (1 newest ... 5 oldest), plus a failed one in the middle: each test starts from these alone. */
  const failedId = 'BrowseFailed0000000000';
  async function seedFive(): Promise<void> {
    for (let n = 1; n <= 5; n++) await svc.store.create(newImageDoc(idOf(n), { kind: 'upload' }, null, new Date(Date.UTC(2026, 0, 1, 0, 0, 10 - n))));
    const failed = newImageDoc(failedId, { kind: 'upload' }, null, new Date(Date.UTC(2026, 0, 1, 0, 0, 7, 500)));
    failed.status = 'failed';
    await svc.store.create(failed);
  }

  before(async () => {
    svc = await startImageService(servers, 'browse', {}, { worker: false });
  });
  after(() => svc?.close());
  beforeEach(async () => {
    await svc.store.images.deleteMany({});
  });

  test('random fails cleanly with no images', async () => {
    const res = await json('/api/v1/images/random');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'HUGEMAP_ERR_NOT_FOUND');
  });

  test('next and previous walk the listing order; null at both ends; failed images skipped', async () => {
    await seedFive();
    const listed = (await json('/api/v1/images?limit=100')).body.items.map((i: { id: string }) => i.id).filter((id: string) => id !== failedId);
    assert.deepEqual(listed, [1, 2, 3, 4, 5].map(idOf));

    for (let n = 1; n <= 5; n++) {
      assert.deepEqual((await json(`/api/v1/images/${idOf(n)}/next`)).body, { id: n < 5 ? idOf(n + 1) : null }, `next of ${n}`);
      assert.deepEqual((await json(`/api/v1/images/${idOf(n)}/previous`)).body, { id: n > 1 ? idOf(n - 1) : null }, `previous of ${n}`);
    }
    assert.equal((await json(`/api/v1/images/${'Z'.repeat(22)}/next`)).status, 404);
    assert.equal((await json('/api/v1/images/bad/next')).status, 400);
  });

  test('random returns every showable image and nothing else', async () => {
    await seedFive();
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const { status, body } = await json('/api/v1/images/random');
      assert.equal(status, 200);
      seen.set(body.id, (seen.get(body.id) ?? 0) + 1);
    }
    assert.deepEqual([...seen.keys()].sort(), [1, 2, 3, 4, 5].map(idOf).sort());
    // Uniform: 40 expected each; 15 is more than 4 standard deviations below.
    for (const [id, count] of seen) assert.ok(count >= 15, `${id} drawn ${count} times of 200`);
  });

  test('PATCH sets title and tags; ?tag= filters; /tags counts', async () => {
    await seedFive();
    const patch = (id: string, body: unknown) => json(`/api/v1/images/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let res = await patch(idOf(1), { title: '  Harbour at dawn ', tags: ['Sea', 'boats', 'sea'] });
    assert.equal(res.status, 200);
    assert.equal(res.body.title, 'Harbour at dawn');
    assert.deepEqual(res.body.tags, ['sea', 'boats']);
    await patch(idOf(2), { tags: ['sea'] });
    await patch(idOf(3), { tags: ['forest'] });
    res = await patch(idOf(1), { title: null });
    assert.equal(res.body.title, null);
    assert.deepEqual(res.body.tags, ['sea', 'boats'], 'tags untouched when not sent');

    const sea = (await json('/api/v1/images?tag=Sea')).body.items.map((i: { id: string }) => i.id);
    assert.deepEqual(sea, [idOf(1), idOf(2)]);
    assert.deepEqual((await json('/api/v1/images?tag=nothing')).body.items, []);
    assert.deepEqual((await json('/api/v1/tags')).body, {
      tags: [
        { tag: 'sea', count: 2 },
        { tag: 'boats', count: 1 },
        { tag: 'forest', count: 1 },
      ],
    });

    for (const bad of [{ tags: 'sea' }, { tags: ['<b>'] }, { title: 5 }, { colour: 'red' }, { tags: Array.from({ length: 31 }, (_, i) => `t${i}`) }]) {
      const r = await patch(idOf(1), bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
    }
    assert.equal((await patch('Z'.repeat(22), { title: 'x' })).status, 404);
  });
});
