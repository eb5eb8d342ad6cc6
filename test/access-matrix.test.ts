/**
 * Who may do what, as a matrix of callers x routes x visibility, against the
 * real stack (API and worker on Redis, FerretDB, MinIO) with AUTH_MODE=required:
 * alice owns a public, an unlisted and a private image; bob is another member;
 * root an admin; alice also holds a read-only key. Private answers 404 (never
 * 403) to those who may not see it; writes need the owner or an admin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, waitUntilDone, type ImageService } from './helpers/image-service.js';
import { ANON, bearer, createKey, createUser, uploadAs, type Caller } from './helpers/principals.js';

const TOKEN = 'bootstrap-admin-token-0123456789';
let svc: ImageService;
after(async () => {
  await svc?.close();
});
const servers = await useTestServers();

type Visibility = 'public' | 'unlisted' | 'private';
const ids = {} as Record<Visibility, string>;
const callers = {} as Record<'anon' | 'alice' | 'aliceRead' | 'bob' | 'root', Caller>;
let bobKeyId: string;

before(async () => {
  svc = await startImageService(servers, 'access-matrix', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN });
  const admin = bearer('bootstrap', TOKEN);
  await createUser(svc.url, TOKEN, 'alice', 'member');
  await createUser(svc.url, TOKEN, 'bob', 'member');
  await createUser(svc.url, TOKEN, 'root', 'admin');
  callers.anon = ANON;
  callers.alice = bearer('alice', (await createKey(svc.url, admin, { user: 'alice', scopes: ['read', 'write'] })).key);
  callers.aliceRead = bearer('aliceRead', (await createKey(svc.url, admin, { user: 'alice', scopes: ['read'] })).key);
  const bobKey = await createKey(svc.url, admin, { user: 'bob', scopes: ['read', 'write'] });
  bobKeyId = bobKey.id;
  callers.bob = bearer('bob', bobKey.key);
  callers.root = bearer('root', (await createKey(svc.url, admin, { user: 'root', scopes: ['read', 'write', 'admin'] })).key);
  let hue = 0;
  for (const visibility of ['public', 'unlisted', 'private'] as const) {
    const bytes = await patterned(300 + hue, 200);
    hue += 10;
    const res = await uploadAs(svc.url, callers.alice, bytes, { visibility, tags: `matrix,${visibility}` }, `${visibility}.jpg`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    ids[visibility] = res.json.id;
  }
  for (const id of Object.values(ids)) {
    await waitUntilDoneAs(id);
    const ann = await req(callers.alice, 'POST', `/api/v1/images/${id}/annotations`, { type: 'marker', points: [[10, 10]], title: 'here' });
    assert.equal(ann.status, 201);
  }
});

async function waitUntilDoneAs(id: string): Promise<void> {
  // waitUntilDone reads anonymously: give it the owner's key through a tiny proxy of fetch's headers.
  const start = Date.now();
  for (;;) {
    const d = (await (await fetch(`${svc.url}/api/v1/images/${id}`, { headers: callers.alice.headers })).json()) as any;
    if (d.status === 'done') return;
    if (d.status === 'failed') throw new Error(`image ${id} failed: ${JSON.stringify(d.error)}`);
    if (Date.now() - start > 120_000) throw new Error(`image ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
void waitUntilDone;

async function req(caller: Caller, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; headers: Headers }> {
  const headers: Record<string, string> = { ...caller.headers };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${svc.url}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** Every way to read an image's data. */
const readRoutes = (id: string): string[] => [
  `/api/v1/images/${id}`,
  `/api/v1/images/${id}/events`,
  `/api/v1/images/${id}/annotations`,
  `/api/v1/images/${id}/next`,
  `/api/v1/images/${id}/scaled-dimensions?size=thumb`,
  `/api/v1/images/${id}/tag?size=thumb`,
  `/tiles/${id}/image.dzi`,
  `/tiles/${id}/image_files/0/0_0.jpeg`,
  `/tiles/${id}/thumbnail.jpg`,
  `/i/thumb/${id}.jpg`,
  `/iiif/3/${id}/info.json`,
  `/iiif/3/${id}/full/max/0/default.jpg`,
  `/v/${id}`,
  `/embed/${id}`,
];

describe('reading', () => {
  const sees: Record<Visibility, Array<keyof typeof callers>> = {
    public: ['anon', 'alice', 'aliceRead', 'bob', 'root'],
    unlisted: ['anon', 'alice', 'aliceRead', 'bob', 'root'],
    private: ['alice', 'aliceRead', 'root'],
  };
  for (const visibility of ['public', 'unlisted', 'private'] as const) {
    test(`${visibility}: readable by ${sees[visibility].join(', ')}; 404 to the others`, async () => {
      for (const who of Object.keys(callers) as Array<keyof typeof callers>) {
        const want = sees[visibility].includes(who) ? 200 : 404;
        for (const path of readRoutes(ids[visibility])) {
          const res = await req(callers[who], 'GET', path);
          assert.equal(res.status, want, `${who} GET ${path} (${visibility}): ${res.text.slice(0, 200)}`);
          if (want === 404) {
            // Indistinguishable from an id that does not exist: same status, same body (with that id).
            const unknown = 'Unknown_Image_Id_12345';
            const absent = await req(callers[who], 'GET', path.replace(ids[visibility], unknown));
            assert.equal(absent.status, 404, path);
            assert.equal(res.text, absent.text.replaceAll(unknown, ids[visibility]), `${who} GET ${path}: private must look absent`);
          }
        }
      }
    });
  }

  test('a private image is served with Cache-Control: private and without CORS; a public one is immutable', async () => {
    const priv = await req(callers.alice, 'GET', `/tiles/${ids.private}/image_files/0/0_0.jpeg`);
    assert.match(priv.headers.get('cache-control') ?? '', /^private/);
    assert.equal(priv.headers.get('access-control-allow-origin'), null);
    const pub = await req(ANON, 'GET', `/tiles/${ids.public}/image_files/0/0_0.jpeg`);
    assert.equal(pub.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });

  test('originals: only the owner and admins while not downloadable; anyone once it is; always an attachment with nosniff', async () => {
    for (const [who, want] of [['anon', 404], ['bob', 404], ['aliceRead', 200], ['alice', 200], ['root', 200]] as const) {
      assert.equal((await req(callers[who], 'GET', `/i/o/${ids.public}.jpg`)).status, want, who);
    }
    const patch = await req(callers.alice, 'PATCH', `/api/v1/images/${ids.unlisted}`, { downloadable: true });
    assert.equal(patch.status, 200, patch.text);
    const res = await req(ANON, 'GET', `/i/o/${ids.unlisted}.jpg`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('listing and browsing', () => {
  const listed = async (caller: Caller, query = '') => {
    const res = await req(caller, 'GET', `/api/v1/images?limit=100${query}`);
    assert.equal(res.status, 200);
    return (JSON.parse(res.text).items as Array<{ id: string }>).map((i) => i.id).sort();
  };

  test('listings show public images only, to everyone; ?mine=1 shows all of the caller\'s own', async () => {
    for (const who of ['anon', 'bob', 'alice', 'root'] as const) assert.deepEqual(await listed(callers[who]), [ids.public], who);
    assert.deepEqual(await listed(callers.alice, '&mine=1'), Object.values(ids).sort());
    assert.deepEqual(await listed(callers.bob, '&mine=1'), []);
    assert.deepEqual(await listed(ANON, '&mine=1'), []);
    assert.deepEqual(await listed(ANON, '&tag=private'), [], 'the tag filter does not find a private image');
  });

  test('tag counts, random and next/previous never reveal unlisted or private images', async () => {
    const tags = JSON.parse((await req(ANON, 'GET', '/api/v1/tags')).text).tags as Array<{ tag: string; count: number }>;
    assert.deepEqual(tags.filter((t) => ['matrix', 'public', 'unlisted', 'private'].includes(t.tag)), [
      { tag: 'matrix', count: 1 },
      { tag: 'public', count: 1 },
    ]);
    for (let i = 0; i < 5; i++) assert.equal(JSON.parse((await req(ANON, 'GET', '/api/v1/images/random')).text).id, ids.public);
    for (const step of ['next', 'previous']) {
      assert.equal(JSON.parse((await req(ANON, 'GET', `/api/v1/images/${ids.public}/${step}`)).text).id, null, step);
    }
  });
});

describe('writing', () => {
  const writes = (id: string): Array<[string, string, unknown]> => [
    ['PATCH', `/api/v1/images/${id}`, { title: 'renamed' }],
    ['POST', `/api/v1/images/${id}/annotations`, { type: 'marker', points: [[5, 5]] }],
  ];

  test('anonymous 401 (with WWW-Authenticate), a read-only key 403, another member 403 (404 when private), owner and admin allowed', async () => {
    for (const visibility of ['public', 'unlisted', 'private'] as const) {
      for (const [method, path, body] of writes(ids[visibility])) {
        const anon = await req(ANON, method, path, body);
        assert.equal(anon.status, 401, `anon ${method} ${path}`);
        assert.equal(JSON.parse(anon.text).error.code, 'HUGEMAP_ERR_UNAUTHENTICATED');
        assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer/);
        const readOnly = await req(callers.aliceRead, method, path, body);
        assert.equal(readOnly.status, 403, `read-only key ${method} ${path}`);
        assert.equal(JSON.parse(readOnly.text).error.code, 'HUGEMAP_ERR_FORBIDDEN');
        const bob = await req(callers.bob, method, path, body);
        assert.equal(bob.status, visibility === 'private' ? 404 : 403, `bob ${method} ${path}`);
        for (const who of ['alice', 'root'] as const) {
          const ok = await req(callers[who], method, path, body);
          assert.ok(ok.status === 200 || ok.status === 201, `${who} ${method} ${path}: ${ok.status} ${ok.text}`);
        }
      }
    }
  });

  test('deleting: bob 403, anonymous 401, the owner 204 and the image is gone', async () => {
    const res = await uploadAs(svc.url, callers.alice, await patterned(120, 90), { visibility: 'public' }, 'gone.jpg');
    assert.equal(res.status, 202);
    const id = res.json.id as string;
    assert.equal((await req(ANON, 'DELETE', `/api/v1/images/${id}`)).status, 401);
    assert.equal((await req(callers.bob, 'DELETE', `/api/v1/images/${id}`)).status, 403);
    assert.equal((await req(callers.aliceRead, 'DELETE', `/api/v1/images/${id}`)).status, 403);
    assert.equal((await req(callers.alice, 'DELETE', `/api/v1/images/${id}`)).status, 204);
    assert.equal((await req(callers.alice, 'GET', `/api/v1/images/${id}`)).status, 404);
  });

  test('uploading: anonymous 401, a read-only key 403, unknown and revoked keys 401', async () => {
    const bytes = await patterned(64, 64);
    assert.equal((await uploadAs(svc.url, ANON, bytes)).status, 401);
    assert.equal((await uploadAs(svc.url, callers.aliceRead, bytes)).status, 403);
    assert.equal((await uploadAs(svc.url, bearer('nobody', `hm_${'A'.repeat(43)}`), bytes)).status, 401);
    const spare = await createKey(svc.url, callers.bob, { scopes: ['read', 'write'], label: 'spare' });
    const spareCaller = bearer('spare', spare.key);
    assert.equal((await req(spareCaller, 'GET', '/api/v1/images?mine=1')).status, 200);
    assert.equal((await req(callers.bob, 'DELETE', `/api/v1/keys/${spare.id}`)).status, 204);
    const revoked = await req(spareCaller, 'GET', '/api/v1/images?mine=1');
    assert.equal(revoked.status, 401, 'a revoked key is refused by the very next request');
    assert.equal((await req(callers.alice, 'DELETE', `/api/v1/keys/${bobKeyId}`)).status, 404, "someone else's key looks absent");
  });

  test('the same bytes as alice\'s private image, uploaded by bob, are another image with another id', async () => {
    const aliceDoc = JSON.parse((await req(callers.alice, 'GET', `/api/v1/images/${ids.private}`)).text);
    const original = await fetch(`${svc.url}/i/o/${ids.private}.jpg`, { headers: callers.alice.headers });
    const bytes = Buffer.from(await original.arrayBuffer());
    assert.equal(bytes.length, aliceDoc.bytes);
    const res = await uploadAs(svc.url, callers.bob, bytes, { visibility: 'private' });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.notEqual(res.json.id, ids.private);
    assert.equal(res.json.duplicate, undefined);
    const again = await uploadAs(svc.url, callers.bob, bytes, { visibility: 'private' });
    assert.equal(again.status, 200, 'the same owner uploading the same bytes gets their own image back');
    assert.equal(again.json.id, res.json.id);
  });
});
