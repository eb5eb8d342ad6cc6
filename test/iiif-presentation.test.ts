/**
 * IIIF Presentation 3.0: manifests and the collection against real FerretDB,
 * validated with ajv against the Presentation 3 JSON schema of the IIIF
 * presentation-validator (test/fixtures/iiif-presentation-3.schema.json);
 * private images are 404 to others and never listed.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { newImageDoc, type ImageDoc } from '../shared/image-status.js';
import { newImageId } from '../services/api/image-id.js';
import { COLLECTION_PAGE_SIZE } from '../services/api/routes/iiif-presentation.js';
import { createApp } from '../services/api/app.js';

const servers = await useTestServers();
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

async function schemaValidator(): Promise<(doc: unknown) => string | null> {
  const schema = JSON.parse(await readFile(new URL('./fixtures/iiif-presentation-3.schema.json', import.meta.url), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? null : ajv.errorsText(validate.errors?.slice(0, 5)));
}

/** A finished image's document, without tiles: manifests and collections only read MongoDB. */
async function finishedImage(api: TestApi, fields: Partial<ImageDoc> = {}, at = new Date()): Promise<string> {
  const id = newImageId();
  await api.store.create({ ...newImageDoc(id, { kind: 'upload', filename: 'map.jpg' }, 'A map', at, ['old', 'maps']), ...fields });
  await api.store.update(id, { status: 'done', stage: 'done', width: 4000, height: 3000, format: 'jpeg', levels: 13 });
  return id;
}

describe('IIIF Presentation 3', () => {
  let api: TestApi;
  let check: (doc: unknown) => string | null;

  before(async () => {
    api = await startTestApi(servers, 'iiif-presentation', { AUTH_MODE: 'required', ADMIN_TOKEN: 'a'.repeat(32) });
    check = await schemaValidator();
  });
  after(async () => api?.close());

  test('the schema itself refuses a broken manifest (so a pass means something)', () => {
    assert.equal(check({ '@context': 'http://iiif.io/api/presentation/3/context.json', id: 'http://x/m', type: 'Manifest', label: 'not a language map', items: [] }) === null, false);
  });

  test('a manifest: one Canvas of the image size, painted by its image service, label and summary, thumbnail, annotations', async () => {
    const id = await finishedImage(api);
    const res = await fetch(`${api.base}/iiif/3/${id}/manifest.json`, { headers: { accept: 'application/ld+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const m = await res.json();
    assert.equal(check(m), null, `schema: ${check(m)}`);
    assert.equal(m.type, 'Manifest');
    assert.equal(m.id, `${api.base}/iiif/3/${id}/manifest.json`);
    assert.deepEqual(m.label, { none: ['A map'] });
    assert.deepEqual(m.summary, { none: ['old, maps'] });
    const canvas = m.items[0];
    assert.deepEqual([canvas.type, canvas.width, canvas.height], ['Canvas', 4000, 3000]);
    const painting = canvas.items[0].items[0];
    assert.equal(painting.motivation, 'painting');
    assert.equal(painting.target, canvas.id);
    assert.deepEqual(painting.body.service, [{ id: `${api.base}/iiif/3/${id}`, type: 'ImageService3', profile: 'level2' }]);
    assert.equal(m.thumbnail[0].id, `${api.base}/iiif/3/${id}/full/256,192/0/default.jpg`);
    assert.deepEqual([m.thumbnail[0].width, m.thumbnail[0].height], [256, 192]);
    assert.deepEqual(canvas.annotations, [{ id: `${api.base}/api/v1/images/${id}/annotations?format=w3c`, type: 'AnnotationPage' }]);
    const plain = await fetch(`${api.base}/iiif/3/${id}/manifest.json`);
    assert.match(plain.headers.get('content-type') ?? '', /^application\/json/);
  });

  test('private images: 404 to others (as if absent), served to the owner; not finished: 409', async () => {
    const priv = await finishedImage(api, { visibility: 'private', owner: 'alice' });
    const res = await fetch(`${api.base}/iiif/3/${priv}/manifest.json`);
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error.code, 'HUGEMAP_ERR_NOT_FOUND');
    assert.equal((await fetch(`${api.base}/iiif/3/${priv}/info.json`)).status, 404, 'info.json too');
    const admin = await fetch(`${api.base}/iiif/3/${priv}/manifest.json`, { headers: { authorization: `Bearer ${'a'.repeat(32)}` } });
    assert.equal(admin.status, 200);
    assert.match(admin.headers.get('cache-control') ?? '', /^private/);
    const queued = newImageId();
    await api.store.create(newImageDoc(queued, { kind: 'upload' }, null));
    assert.equal((await fetch(`${api.base}/iiif/3/${queued}/manifest.json`)).status, 409);
    assert.equal((await fetch(`${api.base}/iiif/3/${'Q'.repeat(22)}/manifest.json`)).status, 404);
  });

  test('absolute URLs: PUBLIC_BASE_URL when set; the forwarded host of a trusted proxy; never a forged Host', async () => {
    const id = await finishedImage(api);
    const serve = async (app: ReturnType<typeof createApp>, headers: Record<string, string>) => {
      const server = http.createServer(app);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        return await new Promise<any>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: `/iiif/3/${id}/manifest.json`, headers }, (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
            })
            .on('error', reject);
        });
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    };
    const forged = { Host: 'evil.example', 'X-Forwarded-Host': 'evil2.example', 'X-Forwarded-Proto': 'https' };
    const withBase = createApp({ ...api.deps, config: { ...api.deps.config, publicBaseUrl: 'https://maps.example.org/hm' } });
    assert.equal((await serve(withBase, forged)).id, `https://maps.example.org/hm/iiif/3/${id}/manifest.json`);
    const untrusted = createApp(api.deps);
    assert.match((await serve(untrusted, forged)).id, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/iiif/3/${id}/manifest\\.json$`));
    // Behind a proxy TRUST_PROXY trusts, its forwarded host and scheme are the public ones.
    const trusted = createApp({ ...api.deps, config: { ...api.deps.config, trustProxy: 'loopback' } });
    const viaProxy = await serve(trusted, { 'X-Forwarded-Host': 'maps.example.org', 'X-Forwarded-Proto': 'https' });
    assert.equal(viaProxy.id, `https://maps.example.org/iiif/3/${id}/manifest.json`);
    assert.equal(viaProxy.items[0].items[0].items[0].body.service[0].id, `https://maps.example.org/iiif/3/${id}`);
  });

  test('the collection lists public finished images only, newest first, and is paged when large', async () => {
    await api.store.images.deleteMany({});
    const t0 = Date.now() - 1_000_000;
    const publicIds: string[] = [];
    for (let i = 0; i < COLLECTION_PAGE_SIZE + 5; i++) publicIds.push(await finishedImage(api, { visibility: 'public' }, new Date(t0 + i * 1000)));
    const hidden = [await finishedImage(api, { visibility: 'private', owner: 'bob' }), await finishedImage(api, { visibility: 'unlisted' })];
    const unfinished = newImageId();
    await api.store.create(newImageDoc(unfinished, { kind: 'upload' }, 'queued'));

    const top = await (await fetch(`${api.base}/iiif/3/collection.json`)).json();
    assert.equal(check(top), null, `schema: ${check(top)}`);
    assert.equal(top.type, 'Collection');
    assert.deepEqual(
      top.items.map((c: any) => [c.type, c.id]),
      [
        ['Collection', `${api.base}/iiif/3/collection.json?page=1`],
        ['Collection', `${api.base}/iiif/3/collection.json?page=2`],
      ],
    );
    const listed: string[] = [];
    for (const ref of top.items) {
      const page = await (await fetch(ref.id)).json();
      assert.equal(check(page), null, `schema: ${check(page)}`);
      assert.equal(page.id, ref.id);
      for (const item of page.items) {
        assert.equal(item.type, 'Manifest');
        listed.push(/\/iiif\/3\/([^/]+)\/manifest\.json$/.exec(item.id)![1]!);
      }
    }
    assert.deepEqual(listed, [...publicIds].reverse(), 'every public image once, newest first');
    for (const id of [...hidden, unfinished]) assert.ok(!listed.includes(id));
    assert.equal((await fetch(`${api.base}/iiif/3/collection.json?page=3`)).status, 404);
    assert.equal((await fetch(`${api.base}/iiif/3/collection.json?page=0`)).status, 400);

    // Small enough for one page: the manifests themselves.
    await api.store.images.deleteMany({ _id: { $in: publicIds.slice(10) } });
    const small = await (await fetch(`${api.base}/iiif/3/collection.json`)).json();
    assert.equal(check(small), null);
    assert.deepEqual(small.items.map((m: any) => m.type), Array(10).fill('Manifest'));
  });
});
