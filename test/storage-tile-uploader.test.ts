import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { S3Store } from '../shared/storage/s3-store.js';
import { IMMUTABLE_CACHE_CONTROL, orderPyramidFiles, uploadTileFolder, type TileUploadCheckpoint } from '../shared/storage/tile-uploader.js';
import { startFaultProxy, type Fault, type FaultProxy } from './helpers/fault-proxy.js';
import { uniqueName, useTestServers } from './helpers/servers.js';

/** What a fault rule sees: the request's object key (decoded) and which attempt this is. */
interface KeyedRequest { method: string; key: string; attempt: number }

const servers = await useTestServers();
const bucket = uniqueName('storage-tiles');
let pyramid: string;
let files: string[]; // relative paths
let work: string;
let failing: (r: KeyedRequest) => Fault | null = () => null;
let proxy: FaultProxy;
/** Object PUTs in the order they reached the proxy (UploadPart and bucket requests excluded). */
const putArrivals: string[] = [];
/** For each descriptor PUT: how many files under its folder had been stored when it was sent. */
const storedWhenDescriptorSent = new Map<string, number>();

/** `/bucket/a%20b/c` -> `a b/c` */
function keyOf(path: string): string {
  return decodeURIComponent(path.split('/').slice(2).join('/'));
}

/** Successful object PUTs per key under `prefix`. */
function successfulPuts(prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [path, n] of proxy.countSuccessfulPuts(`/${bucket}/${prefix}`)) counts.set(keyOf(path), n);
  return counts;
}

/** A fake Deep Zoom folder: levels 0-11 (so 10 and 11 must sort after 9), thumbnail, manifest, descriptor. */
async function makePyramid(root: string): Promise<string[]> {
  const rels: string[] = [];
  for (let level = 0; level <= 11; level++) {
    const cols = level < 8 ? 1 : level - 6;
    const rows = level < 8 ? 1 : 2;
    await mkdir(join(root, 'image_files', String(level)), { recursive: true });
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) rels.push(`image_files/${level}/${c}_${r}.jpeg`);
  }
  rels.push('thumbnail.jpg', 'manifest.json', 'image.dzi');
  for (const rel of rels) await writeFile(join(root, rel), randomBytes(1000 + Math.floor(Math.random() * 20_000)));
  return rels;
}

function storeVia(url: string, maxAttempts = 5): S3Store {
  return new S3Store({ ...servers.s3, endpoint: url, bucket, forcePathStyle: true }, { maxAttempts });
}

async function assertAllStoredOnce(prefix: string): Promise<void> {
  const counts = successfulPuts(prefix);
  assert.deepEqual([...counts.keys()].sort(), files.map((f) => prefix + f).sort());
  for (const [key, n] of counts) assert.equal(n, 1, `${key} PUT ${n} times`);
  const direct = storeVia(servers.s3.endpoint);
  for (const rel of files) {
    const got = await direct.getStream(prefix + rel);
    const chunks: Buffer[] = [];
    for await (const c of got.stream) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), await readFile(join(pyramid, rel)), rel);
  }
}

/** The descriptor's PUT was sent once, last, after every other file under `prefix` had been stored. */
function assertDescriptorLast(prefix: string): void {
  const descriptor = `${prefix}image.dzi`;
  const arrivals = putArrivals.filter((k) => k.startsWith(prefix));
  assert.equal(arrivals.at(-1), descriptor, 'image.dzi was not the last PUT');
  assert.equal(arrivals.indexOf(descriptor), arrivals.length - 1, 'image.dzi was sent more than once');
  // Not merely sent last: sent only once every other file had been stored.
  assert.equal(storedWhenDescriptorSent.get(descriptor), files.length - 1);
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'hugemap-tiles-'));
  pyramid = join(work, 'OUT');
  files = await makePyramid(pyramid);
  proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    shouldFail: (r) => {
      const key = keyOf(r.path);
      const fault = failing({ method: r.method, key, attempt: r.n });
      if (!fault && r.method === 'PUT' && !r.query.includes('uploadId=') && key !== '') {
        putArrivals.push(key);
        if (key.endsWith('/image.dzi')) storedWhenDescriptorSent.set(key, successfulPuts(key.slice(0, -'image.dzi'.length)).size);
      }
      return fault;
    },
  });
  await storeVia(servers.s3.endpoint).ensureBucket();
});

after(async () => {
  await proxy.close();
  await rm(work, { recursive: true, force: true });
});

describe('uploadTileFolder', () => {
  test('interrupted after two batches, resumed: every file stored exactly once, descriptor last, headers right', async () => {
    const prefix = 'images/resume/';
    const store = storeVia(proxy.url);
    let saved: TileUploadCheckpoint | null = null;
    const totals: number[] = [];
    await assert.rejects(
      uploadTileFolder(store, pyramid, 'images/resume', {
        checkpoint: null,
        batchSize: 8,
        onBatch: async (cp, total) => {
          saved = cp;
          totals.push(total);
          if (cp.uploaded === 16) throw new Error('killed');
        },
      }),
      /killed/,
    );
    assert.deepEqual(saved, { uploaded: 16 });
    assert.deepEqual(totals, [files.length, files.length]);
    assert.equal(await store.head(`${prefix}image.dzi`), null);

    const seen: number[] = [];
    const res = await uploadTileFolder(store, pyramid, 'images/resume', {
      checkpoint: saved,
      batchSize: 8,
      onBatch: async (cp) => void seen.push(cp.uploaded),
    });
    // 38 files in batches of 8, then the descriptor alone.
    assert.deepEqual(seen, [24, 32, 38, 39]);
    const ordered = orderPyramidFiles(files.map((rel) => ({ rel })), 'image.dzi').slice(16);
    let expectedBytes = 0;
    for (const f of ordered) expectedBytes += (await readFile(join(pyramid, f.rel))).length;
    assert.deepEqual(res, { uploaded: files.length - 16, skipped: 16, total: files.length, bytes: expectedBytes });
    await assertAllStoredOnce(prefix);
    assertDescriptorLast(prefix);

    for (const [rel, type] of [['image.dzi', 'application/xml'], ['image_files/10/3_1.jpeg', 'image/jpeg'], ['thumbnail.jpg', 'image/jpeg'], ['manifest.json', 'application/json']]) {
      const got = await store.client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + rel }));
      await got.Body?.transformToByteArray();
      assert.equal(got.ContentType, type, rel);
      assert.equal(got.CacheControl, IMMUTABLE_CACHE_CONTROL, rel);
    }
  });

  test('killed mid-batch: files PUT after the last checkpoint are not uploaded again', async () => {
    const prefix = 'images/midbatch/';
    // After 20 stored files the "process dies": every further request fails and is not retried.
    failing = (r) => (r.key.startsWith(prefix) && successfulPuts(prefix).size >= 20 ? 'reset' : null);
    let saved: TileUploadCheckpoint | null = null;
    try {
      await assert.rejects(
        uploadTileFolder(storeVia(proxy.url, 1), pyramid, prefix, { checkpoint: null, batchSize: 8, concurrency: 2, onBatch: async (cp) => void (saved = cp) }),
      );
    } finally {
      failing = () => null;
    }
    const before = successfulPuts(prefix).size;
    const checkpointed = (saved as TileUploadCheckpoint | null)?.uploaded ?? 0;
    assert.ok(before > checkpointed, `some files (${before}) were stored beyond the checkpoint (${checkpointed})`);
    assert.ok(before - checkpointed <= 8, 'at most one batch is unaccounted for');

    const res = await uploadTileFolder(storeVia(proxy.url), pyramid, prefix, { checkpoint: saved, batchSize: 8, onBatch: async () => undefined });
    assert.equal(res.skipped, before);
    assert.equal(res.uploaded, files.length - before);
    await assertAllStoredOnce(prefix);
    assertDescriptorLast(prefix);
  });

  test('injected 503s and connection resets are retried and the upload completes', async () => {
    const prefix = 'images/flaky/';
    let injected = 0;
    failing = (r) => {
      if (!r.key.startsWith(prefix) || r.method !== 'PUT') return null;
      const i = files.indexOf(r.key.slice(prefix.length));
      const fault: Fault | null = r.attempt === 1 && i % 3 === 0 ? 'error503' : r.attempt <= 2 && i % 4 === 1 ? 'reset' : null;
      if (fault) injected += 1;
      return fault;
    };
    try {
      const res = await uploadTileFolder(storeVia(proxy.url), pyramid, prefix, { checkpoint: null, batchSize: 8, onBatch: async () => undefined });
      assert.equal(res.uploaded, files.length);
    } finally {
      failing = () => null;
    }
    assert.ok(injected >= 10, `faults were injected (${injected})`);
    await assertAllStoredOnce(prefix);
    assertDescriptorLast(prefix);
  });

  test('a checkpoint that does not fit the folder is checked against S3 instead of trusted', async () => {
    const prefix = 'images/resume/'; // completed by the first test
    const before = putArrivals.length;
    const res = await uploadTileFolder(storeVia(proxy.url), pyramid, prefix, { checkpoint: { uploaded: 9999 }, onBatch: async () => undefined });
    assert.deepEqual(res, { uploaded: 0, skipped: files.length, total: files.length, bytes: 0 });
    assert.equal(putArrivals.length, before);
  });
});

describe('orderPyramidFiles', () => {
  test('tiles by numeric level then name, then other files, descriptor last', () => {
    const input = ['image.dzi', 'thumbnail.jpg', 'image_files/10/0_0.jpeg', 'manifest.json', 'image_files/9/1_0.jpeg', 'image_files/9/0_1.jpeg', 'image_files/0/0_0.jpeg'];
    const ordered = orderPyramidFiles(input.map((rel) => ({ rel })), 'image.dzi').map((f) => f.rel);
    assert.deepEqual(ordered, ['image_files/0/0_0.jpeg', 'image_files/9/0_1.jpeg', 'image_files/9/1_0.jpeg', 'image_files/10/0_0.jpeg', 'manifest.json', 'thumbnail.jpg', 'image.dzi']);
  });
});
