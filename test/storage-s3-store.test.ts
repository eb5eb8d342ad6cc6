import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, ListMultipartUploadsCommand, CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { NotFoundError, BadRequestError } from '../shared/errors.js';
import { contentTypeFor } from '../shared/storage/content-types.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { uniqueName, useTestServers } from './helpers/servers.js';

const servers = await useTestServers();
let store: S3Store;
let dir: string;

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

before(async () => {
  const s3 = servers.s3;
  store = new S3Store({ ...s3, bucket: uniqueName('storage-store'), forcePathStyle: true });
  await store.ensureBucket();
  await store.ensureBucket(); // idempotent
  dir = await mkdtemp(join(tmpdir(), 'hugemap-store-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('S3Store', () => {
  test('ping succeeds on an existing bucket and fails on a missing one', async () => {
    await store.ping();
    const missing = new S3Store({ ...servers.s3, bucket: uniqueName('missing'), forcePathStyle: true }, { maxAttempts: 1 });
    await assert.rejects(missing.ping(), { code: 'HUGEMAP_ERR_STORAGE' });
  });

  test('putFile, head, getStream (whole and ranged) round trip with metadata', async () => {
    const bytes = randomBytes(300_000);
    const path = join(dir, 'a.jpeg');
    await writeFile(path, bytes);
    await store.putFile('images/x/a.jpeg', path, { contentType: contentTypeFor(path), cacheControl: 'public, max-age=60' });

    const head = await store.head('images/x/a.jpeg');
    assert.equal(head?.size, bytes.length);
    assert.equal(head?.contentType, 'image/jpeg');
    assert.match(head?.etag ?? '', /^"[0-9a-f]{32}"$/);

    const whole = await store.getStream('images/x/a.jpeg');
    assert.equal(whole.size, bytes.length);
    assert.equal(whole.contentType, 'image/jpeg');
    assert.deepEqual(await readAll(whole.stream), bytes);

    const ranged = await store.getStream('images/x/a.jpeg', { start: 1000, end: 1999 });
    assert.equal(ranged.size, 1000);
    assert.equal(ranged.totalSize, bytes.length);
    assert.deepEqual(await readAll(ranged.stream), bytes.subarray(1000, 2000));

    const tail = await store.getStream('images/x/a.jpeg', { start: 299_990 });
    assert.deepEqual(await readAll(tail.stream), bytes.subarray(299_990));

    const raw = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: 'images/x/a.jpeg' }));
    assert.equal(raw.CacheControl, 'public, max-age=60');
    await raw.Body?.transformToByteArray();
  });

  test('putBody stores strings and buffers; head of a missing key is null; getStream throws NotFoundError', async () => {
    await store.putBody('images/x/image.dzi', '<Image/>', { contentType: 'application/xml' });
    const got = await store.getStream('images/x/image.dzi');
    assert.equal((await readAll(got.stream)).toString(), '<Image/>');
    assert.equal(got.contentType, 'application/xml');
    assert.equal(await store.head('images/x/nope'), null);
    await assert.rejects(store.getStream('images/x/nope'), NotFoundError);
  });

  test('downloadToFile writes the bytes atomically and leaves no .part file', async () => {
    const bytes = randomBytes(2_000_000);
    await store.putBody('originals/dl', bytes, { contentType: 'application/octet-stream' });
    const target = join(dir, 'sub', 'original');
    assert.equal(await store.downloadToFile('originals/dl', target), bytes.length);
    assert.deepEqual(await readFile(target), bytes);
    assert.deepEqual(await readdir(join(dir, 'sub')), ['original']);

    await assert.rejects(store.downloadToFile('originals/missing', join(dir, 'sub', 'missing')), NotFoundError);
    assert.deepEqual(await readdir(join(dir, 'sub')), ['original']);
  });

  test('listKeys follows pagination and deletePrefix removes every key plus pending multipart uploads', async () => {
    const keys = Array.from({ length: 45 }, (_, i) => `images/many/f${String(i).padStart(5, '0')}`);
    await Promise.all(keys.map((k) => store.putBody(k, 'x', { contentType: 'text/plain' })));
    await store.putBody('images/many-other/keep', 'y', { contentType: 'text/plain' });
    await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: 'images/many/big' }));

    const listed: string[] = [];
    for await (const o of store.listKeys('images/many/', 10)) {
      assert.equal(o.size, 1);
      listed.push(o.key);
    }
    assert.deepEqual(listed.sort(), keys);

    assert.equal((await store.pendingUploads('images/many/')).length, 1); // so the emptiness below means something

    assert.equal(await store.deletePrefix('images/many/'), 45);
    const left: string[] = [];
    for await (const o of store.listKeys('images/many')) left.push(o.key);
    assert.deepEqual(left, ['images/many-other/keep']);
    // Listed without a Prefix: MinIO only matches exact keys there.
    const uploads = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket }));
    assert.deepEqual(uploads.Uploads ?? [], []);
  });

  test('deletePrefix on a single key removes it and aborts its pending upload; an empty prefix is refused', async () => {
    await store.putBody('originals/gone', 'x', { contentType: 'image/png' });
    await store.putBody('originals/stays', 'y', { contentType: 'image/png' });
    await store.client.send(new CreateMultipartUploadCommand({ Bucket: store.bucket, Key: 'originals/gone' }));
    assert.equal(await store.deletePrefix('originals/gone'), 1);
    assert.equal(await store.head('originals/gone'), null);
    assert.notEqual(await store.head('originals/stays'), null);
    assert.deepEqual(await store.pendingUploads('originals/gone'), []);
    await assert.rejects(store.deletePrefix(''), BadRequestError);
  });
});

describe('contentTypeFor', () => {
  test('maps pyramid and image extensions, case-insensitively', () => {
    assert.equal(contentTypeFor('image.dzi'), 'application/xml');
    assert.equal(contentTypeFor('a/0_0.jpeg'), 'image/jpeg');
    assert.equal(contentTypeFor('thumbnail.JPG'), 'image/jpeg');
    assert.equal(contentTypeFor('x.png'), 'image/png');
    assert.equal(contentTypeFor('x.webp'), 'image/webp');
    assert.equal(contentTypeFor('manifest.json'), 'application/json');
    assert.equal(contentTypeFor('noext'), 'application/octet-stream');
  });
});
