/**
 * Resumable uploads (tus) against real Redis, FerretDB and MinIO: interrupted
 * and resumed uploads store byte-identical originals and register the image
 * like a multipart upload; refused files leave nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { waitFor } from './helpers/test-config.js';
import { contentImageIdOf } from '../services/api/image-id.js';

const servers = await useTestServers();
const MiB = 1024 ** 2;
const TUS = { 'Tus-Resumable': '1.0.0' };

/** Bytes that sniff as JPEG (the API only sniffs; no worker runs here). */
function jpegLike(size: number): Buffer {
  const body = randomBytes(size);
  body.set([0xff, 0xd8, 0xff, 0xe0], 0);
  return body;
}

const meta = (fields: Record<string, string>) =>
  Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`)
    .join(',');

async function createUpload(api: TestApi, length: number, fields: Record<string, string>): Promise<Response> {
  return fetch(`${api.base}/api/v1/uploads`, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': String(length), 'Upload-Metadata': meta(fields) },
  });
}

async function offsetOf(api: TestApi, location: string): Promise<number> {
  const res = await fetch(new URL(location, api.base), { method: 'HEAD', headers: TUS });
  assert.equal(res.status, 200);
  return Number(res.headers.get('upload-offset'));
}

async function patch(api: TestApi, location: string, offset: number, body: Buffer): Promise<Response> {
  return fetch(new URL(location, api.base), {
    method: 'PATCH',
    headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
    body: new Uint8Array(body),
  });
}

/** Sends `body` from offset 0 and cuts the connection once `cutAfter` bytes are written. */
async function interruptedPatch(api: TestApi, location: string, body: Buffer, cutAfter: number): Promise<void> {
  const url = new URL(location, api.base);
  await new Promise<void>((resolve) => {
    const req = http.request(url, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(body.length) },
    });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    let sent = 0;
    const step = 256 * 1024;
    const writeMore = () => {
      while (sent < cutAfter) {
        const chunk = body.subarray(sent, Math.min(cutAfter, sent + step));
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', writeMore);
      }
      // Give the server a moment to take in what was written, then drop the connection mid-body.
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    };
    writeMore();
  });
}

async function keys(api: TestApi, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const o of api.s3.listKeys(prefix)) found.push(o.key);
  return found;
}

async function readObject(api: TestApi, key: string): Promise<Buffer> {
  const { stream } = await api.s3.getStream(key);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('tus uploads', () => {
  let api: TestApi;
  let small: TestApi;

  before(async () => {
    api = await startTestApi(servers, 'web-tus', { TUS_PART_BYTES: String(5 * MiB) });
    small = await startTestApi(servers, 'web-tus-small', { MAX_UPLOAD_BYTES: String(1 * MiB) });
  });
  after(async () => {
    await api?.close();
    await small?.close();
  });

  test('an interrupted upload resumes from the stored offset and the original is byte-identical', async () => {
    const bytes = jpegLike(12 * MiB + 12345);
    const created = await createUpload(api, bytes.length, { filename: 'huge.jpg', filetype: 'image/jpeg', title: 'Resumed', tags: 'maps,big' });
    assert.equal(created.status, 201);
    const location = created.headers.get('location')!;
    assert.match(location, /^\/api\/v1\/uploads\/[A-Za-z0-9_-]+$/);

    await interruptedPatch(api, location, bytes, 11 * MiB);
    // The server stores what arrived (whole 5 MiB parts plus the incomplete tail) once the aborted request settles.
    const offset = await waitFor('the interrupted upload to settle', async () => {
      const o = await offsetOf(api, location);
      return o > 0 ? o : undefined;
    }, 20_000, 200);
    assert.ok(offset >= 5 * MiB && offset <= 11 * MiB, `offset ${offset} after an interruption at 11 MiB`);

    const remainder = bytes.subarray(offset);
    const finished = await waitFor('the lock of the aborted request to be released', async () => {
      const res = await patch(api, location, offset, remainder);
      if (res.status === 423 || res.status === 409) return undefined;
      return res;
    }, 20_000, 300);
    assert.equal(finished.status, 200, await finished.clone().text());
    // Only the remainder was sent, at the recorded offset: the server now holds every byte (and, below, exactly these bytes).
    assert.equal(finished.headers.get('upload-offset'), String(bytes.length));
    const body = (await finished.json()) as { id: string; status: string; links: { events: string } };
    const id = contentImageIdOf(bytes);
    assert.equal(body.id, id);
    assert.equal(body.status, 'queued');
    assert.equal(body.links.events, `/api/v1/images/${id}/events`);

    const stored = await readObject(api, `originals/${id}`);
    assert.equal(stored.length, bytes.length);
    assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(await keys(api, 'uploads/'), [], 'the pending tus object and its .info are gone');

    const doc = await api.store.get(id);
    assert.equal(doc?.status, 'queued');
    assert.equal(doc?.title, 'Resumed');
    assert.deepEqual(doc?.tags, ['maps', 'big']);
    assert.equal(doc?.source.kind, 'upload');
    assert.equal(doc?.source.filename, 'huge.jpg');
    assert.equal(doc?.source.bytes, bytes.length);
    const job = await api.queue.getJob(id);
    assert.equal(job?.data.imageId, id);
  });

  test('the same bytes again give the existing image, not a second job', async () => {
    const bytes = jpegLike(64 * 1024);
    const first = await createUpload(api, bytes.length, { filename: 'a.jpg', filetype: 'image/jpeg' });
    const r1 = await patch(api, first.headers.get('location')!, 0, bytes);
    assert.equal(r1.status, 200);
    const second = await createUpload(api, bytes.length, { filename: 'b.jpg', filetype: 'image/jpeg' });
    const r2 = await patch(api, second.headers.get('location')!, 0, bytes);
    assert.equal(r2.status, 200);
    const [a, b] = [(await r1.json()) as { id: string }, (await r2.json()) as { id: string; duplicate?: boolean }];
    assert.equal(b.id, a.id);
    assert.equal(b.duplicate, true);
    assert.deepEqual(await keys(api, 'uploads/'), []);
  });

  test('a declared size over MAX_UPLOAD_BYTES is refused before any byte is sent', async () => {
    const res = await createUpload(small, 2 * MiB, { filename: 'big.jpg', filetype: 'image/jpeg' });
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'HUGEMAP_ERR_UPLOAD_TOO_LARGE');
  });

  test('a declared non-image type is refused at creation', async () => {
    const res = await createUpload(api, 100, { filename: 'notes.txt', filetype: 'text/plain' });
    assert.equal(res.status, 415);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'HUGEMAP_ERR_NOT_AN_IMAGE');
  });

  test('bytes that are not an image are refused when the upload ends, and nothing is kept', async () => {
    const bytes = Buffer.from('this is plain text pretending to be a JPEG\n'.repeat(100));
    const created = await createUpload(api, bytes.length, { filename: 'fake.jpg', filetype: 'image/jpeg' });
    const res = await patch(api, created.headers.get('location')!, 0, bytes);
    assert.equal(res.status, 415);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'HUGEMAP_ERR_NOT_AN_IMAGE');
    assert.deepEqual(await keys(api, 'uploads/'), []);
    assert.equal(await api.store.get(contentImageIdOf(bytes)), null);
  });
});
