/**
 * The image API contract end to end against real Redis, MongoDB (FerretDB) and
 * S3 (MinIO): uploads stream to S3 and queue a job, refused submissions leave
 * nothing behind, reads/lists/deletes behave as documented.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import sharp from 'sharp';
import { newImageDoc } from '../shared/image-status.js';
import { enqueueTileJob } from '../shared/queue.js';
import { useTestServers } from './helpers/servers.js';
import { assertNoStack, startTestApi, type TestApi } from './helpers/api-harness.js';
import { waitFor } from './helpers/test-config.js';
import { readAll, startServer, serveBody, type TestServer } from './helpers/http-fixtures.js';
import { documented } from './helpers/openapi.js';

const MAX_UPLOAD = 64 * 1024;
let api: TestApi;
let origin: TestServer;
let jpeg: Buffer;

// Registered before useTestServers() so our clients close before the servers stop.
after(async () => {
  await api?.close();
  await origin?.close();
});
const servers = await useTestServers();

/** A Blob of the bytes (copied: Blob wants a plain ArrayBuffer). */
const blob = (b: Buffer, type = 'application/octet-stream') => new Blob([new Uint8Array(b)], { type });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } }).jpeg().toBuffer();
  origin = await startServer(serveBody(jpeg));
  api = await startTestApi(servers, 'api-images', { MAX_UPLOAD_BYTES: String(MAX_UPLOAD), FETCH_ALLOW_HOSTS: origin.hostPort });
});


function form(parts: Array<[string, string | Blob, string?]>): FormData {
  const fd = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === 'string') fd.append(name, value);
    else fd.append(name, value, filename);
  }
  return fd;
}

async function postForm(fd: FormData): Promise<Response> {
  return fetch(`${api.base}/api/v1/images`, { method: 'POST', body: fd });
}

async function postJson(body: unknown, raw?: string): Promise<Response> {
  return fetch(`${api.base}/api/v1/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
}

async function errorOf(res: Response): Promise<{ status: number; code: string }> {
  const text = await res.text();
  assertNoStack(text);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.message, 'string');
  assert.ok(!body.error.message.includes('\n'));
  return { status: res.status, code: body.error.code };
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of api.s3.listKeys(prefix)) keys.push(key);
  return keys.sort();
}

/** Sends a multipart body chunked (no Content-Length), so only the streaming limit can stop it. */
function postChunked(body: Buffer, boundary: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${api.base}/api/v1/images`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
    });
    req.on('response', async (res) => resolve({ status: res.statusCode ?? 0, text: (await readAll(res)).toString() }));
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 8192) req.write(body.subarray(i, i + 8192));
    req.end();
  });
}

describe('POST /api/v1/images (upload)', () => {
  test('a small JPEG with a title first: 202, original in S3 byte for byte, doc queued, job queued', async () => {
    const res = await postForm(form([['title', 'Red square'], ['file', blob(jpeg, 'image/jpeg'), 'red.jpg']]));
    assert.equal(res.status, 202);
    const body = (await documented(res, 'post', '/api/v1/images')) as { id: string; status: string; links: Record<string, string | null> };
    // Content id: the first 16 bytes of the SHA-256 of the bytes, base64url.
    assert.equal(body.id, createHash('sha256').update(jpeg).digest().subarray(0, 16).toString('base64url'));
    assert.equal(body.status, 'queued');
    assert.deepEqual(body.links, {
      self: `/api/v1/images/${body.id}`,
      events: `/api/v1/images/${body.id}/events`,
      dzi: null,
      thumbnail: null,
    });
    assert.equal(res.headers.get('location'), `/api/v1/images/${body.id}`);

    const stored = await api.s3.getStream(`originals/${body.id}`);
    assert.equal(sha256(await readAll(stored.stream)), sha256(jpeg));
    assert.equal(stored.contentType, 'image/jpeg');

    const doc = await api.store.get(body.id);
    assert.equal(doc?.status, 'queued');
    assert.equal(doc?.title, 'Red square');
    assert.deepEqual(doc?.source, { kind: 'upload', contentType: 'image/jpeg', bytes: jpeg.length, filename: 'red.jpg', sha256: sha256(jpeg) });
    assert.deepEqual(await keysUnder('uploads/'), [], 'the temporary upload key is gone');

    // The job carries the request's id (answered as X-Request-Id), so the worker's log lines can be matched to it.
    const job = await api.queue.getJob(body.id);
    assert.deepEqual(job?.data, { imageId: body.id, reqId: res.headers.get('x-request-id') });
  });

  test('title after the file is accepted too', async () => {
    // Other bytes than the first test's: the same bytes would be the same image.
    const other = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3c3' } }).jpeg().toBuffer();
    const res = await postForm(form([['file', blob(other), 'a.jpg'], ['title', 'late title']]));
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    assert.equal((await api.store.get(id))?.title, 'late title');
  });

  test('over MAX_UPLOAD_BYTES (declared length): 413, nothing in S3 or MongoDB', async () => {
    const keysBefore = await keysUnder('');
    const docsBefore = await api.store.images.countDocuments();
    const big = Buffer.concat([jpeg, Buffer.alloc(MAX_UPLOAD * 3)]);
    const res = await postForm(form([['file', blob(big), 'big.jpg']]));
    assert.deepEqual(await errorOf(res), { status: 413, code: 'HUGEMAP_ERR_UPLOAD_TOO_LARGE' });
    assert.equal(await api.store.images.countDocuments(), docsBefore);
    assert.deepEqual(await keysUnder(''), keysBefore);
  });

  test('over MAX_UPLOAD_BYTES while streaming (chunked): 413, no object, no parts, no doc', async () => {
    const keysBefore = await keysUnder('');
    const docsBefore = await api.store.images.countDocuments();
    const boundary = 'hugemap-test-boundary';
    const big = Buffer.concat([jpeg, Buffer.alloc(MAX_UPLOAD * 3, 7)]);
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      big,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await postChunked(body, boundary);
    assertNoStack(res.text);
    assert.equal(res.status, 413);
    assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'HUGEMAP_ERR_UPLOAD_TOO_LARGE');
    assert.deepEqual(await keysUnder(''), keysBefore);
    assert.deepEqual(await api.s3.pendingUploads(''), []);
    assert.equal(await api.store.images.countDocuments(), docsBefore);
  });

  test('a client hanging up mid-upload leaves no object, no multipart parts and no doc', { timeout: 120_000 }, async () => {
    // Its own API with room for a multi-part upload (parts are 16 MiB).
    const roomy = await startTestApi(servers, 'api-abort', { MAX_UPLOAD_BYTES: String(256 * 1024 * 1024) });
    try {
      const boundary = 'hugemap-abort-boundary';
      const req = http.request(`${roomy.base}/api/v1/images`, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
      });
      req.on('error', () => undefined);
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n`);
      req.write(jpeg);
      const chunk = Buffer.alloc(1024 * 1024, 9);
      for (let i = 0; i < 40; i++) req.write(chunk);
      // Uploads stream to uploads/{random} until their content id is known.
      await waitFor('a multipart upload in progress', async () => ((await roomy.s3.pendingUploads('uploads/')).length > 0 ? true : undefined));
      req.destroy();
      await waitFor('the multipart upload aborted', async () => ((await roomy.s3.pendingUploads('')).length === 0 ? true : undefined));
      const keys: string[] = [];
      for await (const { key } of roomy.s3.listKeys('')) keys.push(key);
      assert.deepEqual(keys, []);
      assert.equal(await roomy.store.images.countDocuments(), 0);
    } finally {
      await roomy.close();
    }
  });

  test('a text file is refused with 415 before anything is stored', async () => {
    const keysBefore = await keysUnder('');
    const res = await postForm(form([['file', new Blob(['hello, this is not a picture at all']), 'notes.txt']]));
    assert.deepEqual(await errorOf(res), { status: 415, code: 'HUGEMAP_ERR_NOT_AN_IMAGE' });
    assert.deepEqual(await keysUnder(''), keysBefore);
  });

  test('malformed requests are 400 HUGEMAP_ERR_BAD_REQUEST', async () => {
    const cases: Array<[string, Promise<Response>]> = [
      ['no file field', postForm(form([['title', 'only a title']]))],
      ['file under another name', postForm(form([['picture', blob(jpeg), 'a.jpg']]))],
      ['unknown extra field', postForm(form([['file', blob(jpeg), 'a.jpg'], ['colour', 'red']]))],
      ['plain text body', fetch(`${api.base}/api/v1/images`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' })],
      ['invalid JSON', postJson(null, '{"url": ')],
      ['unknown JSON key', postJson({ url: `${origin.origin}/x.jpg`, extra: 1 })],
      ['JSON without url', postJson({ title: 'x' })],
    ];
    for (const [what, pending] of cases) {
      assert.deepEqual(await errorOf(await pending), { status: 400, code: 'HUGEMAP_ERR_BAD_REQUEST' }, what);
    }
  });
});

describe('POST /api/v1/images (URL)', () => {
  test('private, loopback, metadata and non-http URLs are refused with 400', async () => {
    const refused = [
      'http://127.0.0.1:1/x.jpg',
      `http://127.0.0.1:${origin.port + 1}/x.jpg`,
      'http://169.254.169.254/',
      'http://10.0.0.1/',
      'file:///etc/passwd',
      'http://localhost/',
    ];
    for (const url of refused) {
      const { status, code } = await errorOf(await postJson({ url }));
      assert.equal(status, 400, url);
      assert.ok(code === 'HUGEMAP_ERR_URL_FORBIDDEN' || code === 'HUGEMAP_ERR_BAD_REQUEST', `${url}: ${code}`);
    }
    assert.equal((await errorOf(await postJson({ url: 'http://127.0.0.1:1/x.jpg' }))).code, 'HUGEMAP_ERR_URL_FORBIDDEN');
  });

  test('an allow-listed loopback host:port is accepted and queued', async () => {
    const url = `${origin.origin}/pictures/red.jpg`;
    const res = await postJson({ url, title: 'by url' });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const view = (await (await fetch(`${api.base}/api/v1/images/${id}`)).json()) as { source: unknown; title: string };
    assert.deepEqual(view.source, { kind: 'url', url });
    assert.equal(view.title, 'by url');
    assert.deepEqual((await api.queue.getJob(id))?.data, { imageId: id, reqId: res.headers.get('x-request-id') });
  });
});

describe('GET /api/v1/images/:id', () => {
  test('the documented shape, with tile links once done', async () => {
    const id = 'GetShape_0123456';
    await api.store.create(newImageDoc(id, { kind: 'upload', filename: 'x.png', bytes: 10 }, 'shape'));
    await api.store.update(id, { status: 'done', stage: 'done', progress: 1, width: 640, height: 480, format: 'jpeg', levels: 11, 'checkpoint.tileRows': { tiler: 't', rows: [1, 1] } });
    const res = await fetch(`${api.base}/api/v1/images/${id}`);
    assert.equal(res.status, 200);
    const view = (await documented(res, 'get', '/api/v1/images/{id}')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(view).sort(), [
      'attempts', 'bytes', 'canEdit', 'createdAt', 'downloadable', 'error', 'filename', 'format', 'height', 'id', 'levels', 'links',
      'owner', 'parts', 'progress', 'source', 'stage', 'status', 'tags', 'tileSize', 'tiles', 'title', 'updatedAt', 'visibility', 'width',
    ]);
    // A document from before accounts: the bootstrap admin's, public; AUTH_MODE=open's caller is that admin.
    assert.equal(view.owner, 'admin');
    assert.equal(view.visibility, 'public');
    assert.equal(view.downloadable, false);
    assert.equal(view.canEdit, true);
    assert.equal(view.parts, null, 'an image cut whole has no parts (docs/split-jobs.md)');
    assert.equal(view.bytes, 10);
    assert.equal(view.filename, 'x.png');
    assert.deepEqual(view.tags, []);
    assert.equal(view.status, 'done');
    assert.equal(view.progress, 1);
    assert.deepEqual(view.source, { kind: 'upload', filename: 'x.png' });
    assert.deepEqual(view.links, {
      self: `/api/v1/images/${id}`,
      events: `/api/v1/images/${id}/events`,
      dzi: `/tiles/${id}/image.dzi`,
      tiles: `/tiles/${id}/image_files/`,
      thumbnail: `/tiles/${id}/thumbnail.jpg`,
      preview: null,
    });
  });

  test('unknown id: 404 JSON; malformed id: 400; unknown route: 404 JSON', async () => {
    assert.deepEqual(await errorOf(await fetch(`${api.base}/api/v1/images/AAAAAAAAAAAAAAAA`)), { status: 404, code: 'HUGEMAP_ERR_NOT_FOUND' });
    assert.deepEqual(await errorOf(await fetch(`${api.base}/api/v1/images/not-an-id`)), { status: 400, code: 'HUGEMAP_ERR_BAD_REQUEST' });
    assert.deepEqual(await errorOf(await fetch(`${api.base}/api/v1/nothing-here`)), { status: 404, code: 'HUGEMAP_ERR_NOT_FOUND' });
  });
});

describe('GET /api/v1/images (list)', () => {
  test('pages of 3 return every image exactly once, newest first', async () => {
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    // Seven of its own (three pages of 3), whatever other tests of this file left.
    for (let i = 0; i < 7; i++) {
      // Two share a timestamp, so the id must break the tie consistently.
      const at = new Date(t0 + Math.min(i, 3) * 1000);
      await api.store.create(newImageDoc(`ListTest_000000${i}`, { kind: 'upload' }, `list ${i}`, at));
    }
    const expected = (await api.store.images.find({}).sort({ createdAt: -1, _id: -1 }).toArray()).map((d) => d._id);
    assert.ok(expected.length >= 7, `need at least 3 pages, have ${expected.length} images`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `${api.base}/api/v1/images?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await documented(await fetch(url), 'get', '/api/v1/images')) as { items: Array<{ id: string }>; nextCursor: string | null };
      assert.ok(page.items.length <= 3);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    assert.ok(pages >= 3);
    assert.deepEqual(seen, expected);
    assert.equal(new Set(seen).size, seen.length);
  });

  test('bad limit or cursor: 400', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'cursor=%%%', 'cursor=bm90LWpzb24', 'other=1']) {
      assert.equal((await errorOf(await fetch(`${api.base}/api/v1/images?${q}`))).status, 400, q);
    }
  });
});

describe('DELETE /api/v1/images/:id', () => {
  test('removes tiles, original, job and document; then GET is 404', async () => {
    const id = 'DeleteMe_0123456';
    await api.store.create(newImageDoc(id, { kind: 'upload' }, 'to delete'));
    await enqueueTileJob(api.queue, id);
    await api.s3.putBody(`originals/${id}`, jpeg, { contentType: 'image/jpeg' });
    await api.s3.putBody(`images/${id}/image.dzi`, '<Image/>', { contentType: 'application/xml' });
    await api.s3.putBody(`images/${id}/image_files/0/0_0.jpeg`, jpeg, { contentType: 'image/jpeg' });
    // A neighbour whose id starts the same must survive.
    await api.s3.putBody(`images/${id}x/image.dzi`, 'keep', { contentType: 'application/xml' });

    const res = await fetch(`${api.base}/api/v1/images/${id}`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.deepEqual(await keysUnder(`images/${id}/`), []);
    assert.equal(await api.s3.head(`originals/${id}`), null);
    assert.notEqual(await api.s3.head(`images/${id}x/image.dzi`), null);
    assert.equal(await api.queue.getJob(id), undefined);
    assert.equal(await api.store.get(id), null);
    assert.equal((await fetch(`${api.base}/api/v1/images/${id}`)).status, 404);
    assert.deepEqual(await errorOf(await fetch(`${api.base}/api/v1/images/${id}`, { method: 'DELETE' })), { status: 404, code: 'HUGEMAP_ERR_NOT_FOUND' });
  });
});
