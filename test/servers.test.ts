/**
 * Proves the test servers do the real work the app relies on: Redis for
 * BullMQ, FerretDB through the official MongoDB driver for job status, MinIO
 * for S3 tile storage including multipart uploads; and that versitygw, the
 * lighter S3 server the benchmark also runs the service on, does the same.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startLocalServers, type LocalServers } from '../services/dev/local-servers.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { createTestBucket, s3ClientFor, uniqueName, useTestServers, withDatabase, type S3Info } from './helpers/servers.js';

const servers = await useTestServers();
const MiB = 1024 * 1024;

describe('redis', () => {
  test('SET then GET returns the value, and unknown keys are null', async () => {
    const redis = new Redis(servers.redisUrl);
    after(() => redis.quit());
    const key = uniqueName('servers-test');
    assert.equal(await redis.set(key, 'tile-42', 'EX', 60), 'OK');
    assert.equal(await redis.get(key), 'tile-42');
    assert.equal(await redis.get(`${key}-absent`), null);
  });
});

describe('mongodb (FerretDB via the official driver)', () => {
  const client = new MongoClient(servers.mongoUrl);
  const dbName = uniqueName('servers');
  const db = client.db(dbName);
  after(async () => {
    await db.dropDatabase();
    await client.close();
  });

  test('the URL with a database selects that database', async () => {
    const scoped = new MongoClient(withDatabase(servers.mongoUrl, dbName));
    try {
      assert.equal(scoped.db().databaseName, dbName);
    } finally {
      await scoped.close();
    }
  });

  test('insert, find, createIndex and $set on nested fields', async () => {
    const jobs = db.collection<{ _id: string; status: { stage: string; progress: { done: number; total: number } }; source: string }>('jobs');
    await jobs.insertOne({ _id: 'job-1', status: { stage: 'queued', progress: { done: 0, total: 10 } }, source: 'upload' });

    const indexName = await jobs.createIndex({ 'status.stage': 1 });
    const indexes = await jobs.listIndexes().toArray();
    assert.ok(indexes.some((i) => i.name === indexName), `index ${indexName} listed`);

    const res = await jobs.updateOne({ _id: 'job-1' }, { $set: { 'status.stage': 'tiling', 'status.progress.done': 4 } });
    assert.equal(res.matchedCount, 1);
    assert.equal(res.modifiedCount, 1);

    const doc = await jobs.findOne({ 'status.stage': 'tiling' });
    assert.deepEqual(doc, { _id: 'job-1', status: { stage: 'tiling', progress: { done: 4, total: 10 } }, source: 'upload' });
    assert.equal(await jobs.findOne({ 'status.stage': 'queued' }), null);
  });

  test('pages through a collection by _id with sort + limit', async () => {
    const items = db.collection<{ _id: string; n: number }>('items');
    const ids = Array.from({ length: 25 }, (_, i) => `item-${String(i).padStart(3, '0')}`);
    // Inserted out of order so the sort, not insertion order, must produce the pages.
    const shuffled = [...ids].sort(() => Math.random() - 0.5);
    await items.insertMany(shuffled.map((id) => ({ _id: id, n: ids.indexOf(id) })));

    const pages: string[][] = [];
    let lastId: string | undefined;
    for (;;) {
      const filter = lastId === undefined ? {} : { _id: { $gt: lastId } };
      const page = await items.find(filter).sort({ _id: 1 }).limit(10).toArray();
      if (page.length === 0) break;
      pages.push(page.map((d) => d._id));
      lastId = page[page.length - 1]!._id;
    }
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 5]);
    assert.deepEqual(pages.flat(), ids);
  });
});

/** What hugemap needs of an S3 server, asked of `server()` (known once the suite's `before` ran). */
function s3ServerSuite(name: string, server: () => S3Info, setUp: () => Promise<void> = async () => {}) {
  describe(`s3 (${name})`, () => {
    let s3: ReturnType<typeof s3ClientFor>;
    let bucket: string;
    before(async () => {
      await setUp();
      s3 = s3ClientFor(server());
      bucket = await createTestBucket(server(), 'servers');
    });
    after(() => s3?.destroy());

    test('a tile PUT by S3Store (lean-put.ts) keeps its bytes, content type and cache control', async () => {
      const store = new S3Store({ ...server(), bucket, forcePathStyle: true });
      try {
        const body = randomBytes(4850);
        await store.putSmallObject('images/x/image_files/15/3_4.jpeg', body, { contentType: 'image/jpeg', cacheControl: 'public, max-age=31536000, immutable' });
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'images/x/image_files/15/3_4.jpeg' }));
        assert.equal(got.ContentType, 'image/jpeg');
        assert.equal(got.CacheControl, 'public, max-age=31536000, immutable');
        assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
        const keys: string[] = [];
        for await (const o of store.listKeys('images/x/')) keys.push(o.key);
        assert.deepEqual(keys, ['images/x/image_files/15/3_4.jpeg']);
        await store.deletePrefix('images/x/');
        await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'images/x/image_files/15/3_4.jpeg' })), { name: 'NotFound' });
      } finally {
        store.close();
      }
    });

    test('PUT, GET and HEAD an object; HEAD of a missing key is 404', async () => {
      const body = randomBytes(1234);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'obj/one.bin', Body: body, ContentType: 'application/octet-stream' }));

      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'obj/one.bin' }));
      assert.equal(head.ContentLength, 1234);
      assert.equal(head.ContentType, 'application/octet-stream');

      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'obj/one.bin' }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);

      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'obj/missing.bin' })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.$metadata?.httpStatusCode, 404);
        return true;
      });
    });

    test('ListObjectsV2 filters by prefix', async () => {
      for (const key of ['a/one.bin', 'a/two.bin', 'b/one.bin']) {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      }
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'a/' }));
      assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(), ['a/one.bin', 'a/two.bin']);
      assert.equal(listed.KeyCount, 2);
    });

    test('multipart upload: two parts, ListParts, complete', async () => {
      const key = 'big/object.bin';
      const part1 = randomBytes(5 * MiB); // S3's minimum size for every part but the last
      const part2 = randomBytes(777);
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      assert.ok(UploadId);

      const etags: string[] = [];
      for (const [i, data] of [part1, part2].entries()) {
        const res = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: data }));
        assert.ok(res.ETag);
        etags.push(res.ETag);
      }

      const parts = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId }));
      assert.deepEqual(parts.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), [
        [1, part1.length, etags[0]],
        [2, part2.length, etags[1]],
      ]);

      await s3.send(new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }));

      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      assert.equal(got.ContentLength, part1.length + part2.length);
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.concat([part1, part2]));
    });

    test('AbortMultipartUpload discards the upload and its parts', async () => {
      const key = 'big/aborted.bin';
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: randomBytes(1000) }));
      const before = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      assert.ok(before.Uploads?.some((u) => u.UploadId === UploadId));

      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));

      const afterAbort = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      assert.ok(!afterAbort.Uploads?.some((u) => u.UploadId === UploadId));
      await assert.rejects(s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId })), { name: 'NoSuchUpload' });
      await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), { name: 'NotFound' });
    });
  });
}

s3ServerSuite('MinIO', () => servers.s3);

// Started here, beside the suite's MinIO: Redis and MongoDB are the test servers' (reused).
let versitygw: LocalServers | undefined;
let versitygwDir = '';
s3ServerSuite('versitygw', () => versitygw!.s3, async () => {
  versitygwDir = await mkdtemp(join(tmpdir(), 'hugemap-versitygw-'));
  const env = { ...process.env, REDIS_URL: servers.redisUrl, MONGO_URL: servers.mongoUrl };
  versitygw = await startLocalServers({ dataDir: join(versitygwDir, 'data'), logDir: join(versitygwDir, 'logs'), env, s3Server: 'versitygw' });
  assert.deepEqual(versitygw.started, ['versitygw']);
});
after(async () => {
  await versitygw?.stop();
  if (versitygwDir) await rm(versitygwDir, { recursive: true, force: true });
});
