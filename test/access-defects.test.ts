/**
 * The defects a security probe found, each with the request that showed it
 * (issue 23's list): signed sizes only for owners, a URL's query kept from
 * others, malformed tus ids, body size and file name encoding, trickling
 * uploads, and the migration of images from before accounts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { newImageDoc } from '../shared/image-status.js';
import { migrateLegacyImages } from '../shared/accounts/migrate-images.js';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { testConfig } from './helpers/test-config.js';
import { startApiServer } from '../services/api/server.js';
import { patterned } from './helpers/image-service.js';
import { bearer, createKey, createUser, uploadAs, type Caller } from './helpers/principals.js';

const TOKEN = 'bootstrap-admin-token-0123456789';
const admin = bearer('bootstrap', TOKEN);
let api: TestApi;
let alice: Caller;
let bob: Caller;
after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'access-defects', {
    AUTH_MODE: 'required',
    ADMIN_TOKEN: TOKEN,
    SIGNING_KEY: 'a-signing-key-0123456789',
    FETCH_ALLOW_HOSTS: 'files.example.com:443',
    MIN_UPLOAD_BYTES_PER_SECOND: '1000',
    MIN_UPLOAD_RATE_WINDOW_S: '1',
  });
  await createUser(api.base, TOKEN, 'alice', 'member');
  await createUser(api.base, TOKEN, 'bob', 'member');
  alice = bearer('alice', (await createKey(api.base, admin, { user: 'alice', scopes: ['read', 'write'] })).key);
  bob = bearer('bob', (await createKey(api.base, admin, { user: 'bob', scopes: ['read', 'write'] })).key);
});

/** A finished public image of alice's, as a status document (no tiling needed for these checks). */
async function alicesImage(id: string, extra: Record<string, unknown> = {}): Promise<void> {
  await api.store.create({ ...newImageDoc(id, { kind: 'upload', filename: 'a.jpg' }, 'a'), owner: 'alice', visibility: 'public', ...extra });
  await api.store.update(id, { status: 'done', stage: 'done', width: 1000, height: 800, levels: 11, format: 'jpeg' });
}

test('2: /tag signs a size that is not a preset only for the owner (or an admin); presets for anyone', async () => {
  const id = 'TagSigning_00000000001';
  await alicesImage(id);
  const asked = (caller: Caller, size: string) => fetch(`${api.base}/api/v1/images/${id}/tag?size=${size}`, { headers: caller.headers });
  const owner = await asked(alice, '333x222');
  assert.equal(owner.status, 200, await owner.clone().text());
  assert.match(await owner.text(), /\?s=[A-Za-z0-9_-]+/);
  for (const caller of [bob, { name: 'anon', headers: {} }]) {
    const res = await asked(caller, '333x222');
    assert.equal(res.status, 403, caller.name);
    assert.equal(((await res.json()) as any).error.code, 'HUGEMAP_ERR_FORBIDDEN');
    assert.equal((await asked(caller, 'thumb')).status, 200, `${caller.name}: presets need no signature`);
  }
});

test("5: a submitted URL's query (a signature, credentials) is shown to its owner only", async () => {
  const res = await fetch(`${api.base}/api/v1/images`, {
    method: 'POST',
    headers: { ...alice.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ url: 'https://files.example.com/big.tif?X-Amz-Signature=secret123&X-Amz-Credential=AKIA', visibility: 'public' }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  const seen = async (caller: Caller) => ((await (await fetch(`${api.base}/api/v1/images/${id}`, { headers: caller.headers })).json()) as any).source.url;
  assert.equal(await seen(alice), 'https://files.example.com/big.tif?X-Amz-Signature=secret123&X-Amz-Credential=AKIA');
  assert.equal(await seen(bob), 'https://files.example.com/big.tif');
  const listing = await (await fetch(`${api.base}/api/v1/images?limit=100`)).text();
  assert.ok(listing.includes(id), 'listed publicly');
  assert.doesNotMatch(listing, /secret123|AKIA/);
});

test('9: a malformed tus upload id is 404 without the S3 server talking', async () => {
  for (const id of ['!!!', 'bm90LWEta2V5', 'A'.repeat(300), Buffer.from('uploads/../originals/x').toString('base64url')]) {
    const res = await fetch(`${api.base}/api/v1/uploads/${id}`, { method: 'HEAD', headers: { ...alice.headers, 'Tus-Resumable': '1.0.0' } });
    assert.equal(res.status, 404, id);
  }
  const patch = await fetch(`${api.base}/api/v1/uploads/bm90LWEta2V5`, {
    method: 'PATCH',
    headers: { ...alice.headers, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: 'x',
  });
  assert.equal(patch.status, 404);
  assert.deepEqual(((await patch.json()) as any).error.code, 'HUGEMAP_ERR_NOT_FOUND');
});

describe('10: bodies', () => {
  test('an oversized JSON body is 413 HUGEMAP_ERR_TOO_LARGE', async () => {
    const res = await fetch(`${api.base}/api/v1/images`, {
      method: 'POST',
      headers: { ...alice.headers, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'https://files.example.com/a.jpg', title: 'x'.repeat(40_000) }),
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as any).error.code, 'HUGEMAP_ERR_TOO_LARGE');
  });

  test('a non-ASCII file name arrives as UTF-8', async () => {
    const res = await uploadAs(api.base, alice, await patterned(40, 30), {}, 'Zürich – 東京.jpg');
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const view = (await (await fetch(`${api.base}/api/v1/images/${res.json.id}`, { headers: alice.headers })).json()) as any;
    assert.equal(view.filename, 'Zürich – 東京.jpg');
  });
});

test('11: a trickling body is cut with 408 once it is slower than MIN_UPLOAD_BYTES_PER_SECOND', async () => {
  const { port } = new URL(api.base);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let answer = '';
  socket.on('data', (d) => (answer += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const auth = alice.headers.Authorization!;
  socket.write(`POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n`);
  // A few bytes now and then, for at most 10 s: the server must hang up long before.
  for (let i = 0; i < 40 && !socket.destroyed && !answer; i++) {
    socket.write('1\r\nx\r\n');
    await new Promise((r) => setTimeout(r, 250));
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
  socket.destroy();
  assert.match(answer, /^HTTP\/1\.1 408/);
  assert.match(answer, /HUGEMAP_ERR_UPLOAD_TOO_SLOW/);
});

test('images from before accounts: the migration makes them the bootstrap admin\'s and public, once', async () => {
  const legacy = { ...newImageDoc('Legacy_Image_000000001', { kind: 'upload' }, 'old') };
  delete (legacy as { owner?: string }).owner;
  await api.store.create(legacy);
  await alicesImage('Owned_Image_0000000001', { visibility: 'private' });
  assert.ok((await migrateLegacyImages(api.store.images)) >= 1);
  const migrated = await api.store.get('Legacy_Image_000000001');
  assert.deepEqual([migrated?.owner, migrated?.visibility], ['admin', 'public']);
  const owned = await api.store.get('Owned_Image_0000000001');
  assert.deepEqual([owned?.owner, owned?.visibility], ['alice', 'private'], 'owned images are left alone');
  assert.equal(await migrateLegacyImages(api.store.images), 0, 'idempotent');
  assert.equal((await fetch(`${api.base}/api/v1/images/Legacy_Image_000000001`)).status, 200, 'still public');
});

test('tus uploads: anonymous creation is 401; the creator owns the image, with the visibility asked for, audited', async () => {
  const bytes = await patterned(70, 50);
  const meta = (fields: Record<string, string>) => Object.entries(fields).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',');
  const create = (headers: Record<string, string>, metadata: string) =>
    fetch(`${api.base}/api/v1/uploads`, { method: 'POST', headers: { ...headers, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(bytes.length), 'Upload-Metadata': metadata } });
  assert.equal((await create({}, meta({ filename: 'a.jpg' }))).status, 401);
  // A client cannot claim someone else as the owner through the metadata.
  const made = await create(alice.headers, meta({ filename: 'a.jpg', visibility: 'private', 'hugemap-owner': 'bob' }));
  assert.equal(made.status, 201, await made.clone().text());
  const location = new URL(made.headers.get('location')!, api.base);
  const done = await fetch(location, {
    method: 'PATCH',
    headers: { ...alice.headers, 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: new Uint8Array(bytes),
  });
  assert.equal(done.status, 200, await done.clone().text());
  const { id } = (await done.json()) as { id: string };
  const doc = await api.store.get(id);
  assert.deepEqual([doc?.owner, doc?.visibility], ['alice', 'private']);
  assert.equal((await fetch(`${api.base}/api/v1/images/${id}`, { headers: bob.headers })).status, 404);
  const audit = (await (await fetch(`${api.base}/api/v1/audit?limit=500`, { headers: admin.headers })).json()) as { items: Array<{ action: string; target: string; actor: string; detail?: { source: string } }> };
  const entry = audit.items.find((e) => e.target === `image:${id}`);
  assert.deepEqual([entry?.action, entry?.actor, entry?.detail?.source], ['image.create', 'alice', 'tus']);
});

test('11: past MAX_CONNECTIONS the server refuses new connections; the ones it holds still work', async () => {
  const config = await testConfig(servers, 'max-connections', { AUTH_MODE: 'required', MAX_CONNECTIONS: '3', LOG_LEVEL: 'silent' });
  const server = await startApiServer(config);
  const sockets: net.Socket[] = [];
  try {
    const { port } = new URL(server.url);
    const connect = async () => {
      const socket = net.connect(Number(port), '127.0.0.1');
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => socket.once('connect', () => resolve()).once('error', reject));
      return socket;
    };
    const held = [await connect(), await connect(), await connect()];
    // Accepted in order: the server has counted the three by the time it takes the fourth.
    const extra = await connect();
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => extra.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    assert.equal(closed, true, 'the fourth connection is closed by the server');
    assert.ok(held.every((s) => !s.destroyed), 'the first three stay open');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      held[0]!.on('data', (d) => {
        text += d.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      held[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});
