import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { EmptyInputError, UploadTooLargeError } from '../shared/errors.js';
import { multipartEtag, uploadFileResumable, uploadStream, type MultipartState } from '../shared/storage/multipart-upload.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { startFaultProxy, type Fault, type FaultProxy } from './helpers/fault-proxy.js';
import { uniqueName, useTestServers } from './helpers/servers.js';

const MiB = 1024 * 1024;
const servers = await useTestServers();
let store: S3Store;
let proxy: FaultProxy;
let failing: (r: { method: string; path: string; query: string; n: number }) => Fault | null = () => null;
let dir: string;
let bigPath: string;
let bigSha: string;
const sent: Record<string, number> = {};

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function objectSha(key: string): Promise<string> {
  return sha256Of((await store.getStream(key)).stream);
}

/** Every multipart upload still open in the bucket (MinIO only matches exact keys with Prefix, so list all). */
async function openUploads(): Promise<string[]> {
  const res = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket }));
  return (res.Uploads ?? []).map((u) => u.Key ?? '');
}

/** A body of `size` bytes in 1 MiB chunks, optionally failing after `failAfter` bytes. */
function generated(size: number, failAfter?: number): { body: Readable; sha: () => string; read: () => number } {
  const hash = createHash('sha256');
  let sentBytes = 0;
  const body = new Readable({
    read() {
      if (failAfter !== undefined && sentBytes >= failAfter) {
        this.destroy(new Error('client went away'));
        return;
      }
      if (sentBytes >= size) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(MiB, size - sentBytes));
      hash.update(chunk);
      sentBytes += chunk.length;
      this.push(chunk);
    },
  });
  return { body, sha: () => hash.digest('hex'), read: () => sentBytes };
}

before(async () => {
  store = new S3Store({ ...servers.s3, bucket: uniqueName('storage-mpu'), forcePathStyle: true });
  await store.ensureBucket();
  // Count requests by command as they leave the client (retries included: the
  // middleware sits before the retry step).
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      sent[context.commandName ?? '?'] = (sent[context.commandName ?? '?'] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  proxy = await startFaultProxy({ target: servers.s3.endpoint, shouldFail: (r) => failing(r) });
  dir = await mkdtemp(join(tmpdir(), 'hugemap-mpu-'));
  bigPath = join(dir, 'big.tif');
  const bytes = randomBytes(40 * MiB + 12345);
  await writeFile(bigPath, bytes);
  bigSha = createHash('sha256').update(bytes).digest('hex');
});

beforeEach(() => {
  for (const k of Object.keys(sent)) delete sent[k];
});

after(async () => {
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

describe('uploadFileResumable', () => {
  test('an interrupted upload resumes from its state and sends only the missing parts', async () => {
    const key = 'originals/resume';
    let saved: MultipartState | null = null;
    const checkpoints: number[] = [];
    await assert.rejects(
      uploadFileResumable(store, key, bigPath, {
        meta: { contentType: 'image/tiff' },
        partSize: 5 * MiB,
        concurrency: 1,
        onCheckpoint: async (state) => {
          checkpoints.push(state.parts.length);
          // The process "dies" after part 3 reached S3 but before its checkpoint was saved.
          if (state.parts.length === 3) throw new Error('killed');
          saved = state;
        },
      }),
      /killed/,
    );
    assert.deepEqual(checkpoints, [0, 1, 2, 3]); // the UploadId is recorded before any part
    assert.equal(sent.UploadPartCommand, 3);
    const first = saved as MultipartState | null;
    assert.ok(first);
    assert.equal(first.parts.length, 2);
    assert.equal(await store.head(key), null);

    for (const k of Object.keys(sent)) delete sent[k];
    // Asserted after the upload (a throw in here would only stop it): every checkpoint continues the same upload.
    const resumed: Array<{ uploadId: string; parts: number }> = [];
    const res = await uploadFileResumable(store, key, bigPath, {
      meta: { contentType: 'image/tiff' },
      partSize: 5 * MiB,
      concurrency: 3,
      state: first,
      onCheckpoint: async (state) => {
        resumed.push({ uploadId: state.uploadId, parts: state.parts.length });
      },
    });
    assert.deepEqual(resumed.map((r) => r.uploadId), resumed.map(() => first.uploadId));
    assert.deepEqual(resumed.map((r) => r.parts), [4, 5, 6, 7, 8, 9], 'a checkpoint after each part sent on resume, counting the 3 already in S3');
    // 9 parts in all (40 MiB + 12345 bytes); S3 already held 3, including the one never checkpointed.
    assert.equal(sent.UploadPartCommand, 6);
    assert.equal(sent.CreateMultipartUploadCommand, undefined);
    assert.equal(res.bytes, 40 * MiB + 12345);
    assert.match(res.etag, /-9"$/);
    assert.equal(await objectSha(key), bigSha);
    assert.equal((await store.head(key))?.contentType, 'image/tiff');
    assert.deepEqual(await openUploads(), []);
  });

  test('a recorded part that S3 does not have is uploaded again', async () => {
    const key = 'originals/lying-state';
    const recorded = await uploadKilledAfter(key, 2, 1);
    recorded.parts.push({ PartNumber: 5, ETag: '"00000000000000000000000000000000"', Size: 5 * MiB });

    for (const k of Object.keys(sent)) delete sent[k];
    await uploadFileResumable(store, key, bigPath, { meta: { contentType: 'image/tiff' }, partSize: 5 * MiB, state: recorded });
    assert.equal(sent.UploadPartCommand, 7);
    assert.equal(await objectSha(key), bigSha);
  });

  test('a stale UploadId (aborted upload) starts a new upload and still succeeds', async () => {
    const key = 'originals/stale';
    const stale = await uploadKilledAfter(key, 2, 2);
    await store.client.send(new AbortMultipartUploadCommand({ Bucket: store.bucket, Key: key, UploadId: stale.uploadId }));

    for (const k of Object.keys(sent)) delete sent[k];
    const newIds: string[] = [];
    await uploadFileResumable(store, key, bigPath, {
      meta: { contentType: 'image/tiff' },
      partSize: 5 * MiB,
      state: stale,
      onCheckpoint: async (state) => {
        newIds.push(state.uploadId);
      },
    });
    assert.equal(sent.CreateMultipartUploadCommand, 1);
    assert.equal(sent.UploadPartCommand, 9);
    assert.ok(newIds.length > 0 && newIds.every((id) => id !== stale.uploadId));
    assert.equal(await objectSha(key), bigSha);
  });

  test('503s and connection resets on parts are retried and the object is complete', async () => {
    const key = 'originals/flaky';
    failing = (r) => {
      if (!r.path.endsWith(`/${key}`) || !r.query.includes('partNumber=')) return null;
      if (r.query.includes('partNumber=2&') && r.n <= 2) return 'reset';
      return r.n === 1 ? 'error503' : null;
    };
    try {
      const flakyStore = new S3Store({ ...servers.s3, endpoint: proxy.url, bucket: store.bucket, forcePathStyle: true });
      await uploadFileResumable(flakyStore, key, bigPath, { meta: { contentType: 'image/tiff' }, partSize: 5 * MiB });
    } finally {
      failing = () => null;
    }
    const faults = proxy.stats.requests.filter((r) => r.path.endsWith(`/${key}`) && r.fault !== null).length;
    assert.equal(faults, 9 + 1); // every part's first try, and part 2's second
    assert.deepEqual([...proxy.countSuccessfulPuts(`/${store.bucket}/${key}`).values()], [9]); // each part stored once
    assert.equal(await objectSha(key), bigSha);
  });

  test('a file smaller than one part is a single PUT', async () => {
    const path = join(dir, 'small.png');
    await writeFile(path, randomBytes(100_000));
    const res = await uploadFileResumable(store, 'originals/small', path, { meta: { contentType: 'image/png' }, partSize: 5 * MiB });
    assert.equal(res.bytes, 100_000);
    assert.equal(sent.PutObjectCommand, 1);
    assert.equal(sent.CreateMultipartUploadCommand, undefined);
    assert.equal(await objectSha('originals/small'), await sha256Of(createReadStream(path)));
  });

  test('multipartEtag matches what S3 reports for a completed upload', async () => {
    let state: MultipartState | null = null;
    await uploadFileResumable(store, 'originals/etag', bigPath, {
      meta: { contentType: 'image/tiff' },
      partSize: 5 * MiB,
      onCheckpoint: async (s) => {
        state = s;
      },
    });
    const parts = (state as MultipartState | null)?.parts ?? [];
    assert.equal(parts.length, 9);
    assert.equal((await store.head('originals/etag'))?.etag, multipartEtag(parts.map((p) => p.ETag)));
  });

  test('resuming an upload that was completed just before the crash sends nothing again', async () => {
    let state: MultipartState | null = null;
    const first = await uploadFileResumable(store, 'originals/completed', bigPath, {
      meta: { contentType: 'image/tiff' },
      partSize: 5 * MiB,
      onCheckpoint: async (s) => {
        state = s;
      },
    });
    for (const k of Object.keys(sent)) delete sent[k];
    // A different partSize setting must not matter: the recorded upload's own part size wins.
    const again = await uploadFileResumable(store, 'originals/completed', bigPath, { meta: { contentType: 'image/tiff' }, partSize: 8 * MiB, state });
    assert.deepEqual(again, first);
    assert.equal(sent.UploadPartCommand, undefined);
    assert.equal(sent.CreateMultipartUploadCommand, undefined);
  });
});

describe('uploadStream', () => {
  test('streams a multi-part body and the stored bytes match', async () => {
    const { body, sha } = generated(12 * MiB + 7);
    const res = await uploadStream(store, 'originals/stream-ok', body, { meta: { contentType: 'image/jpeg' }, maxBytes: 20 * MiB, partSize: 5 * MiB });
    assert.equal(res.bytes, 12 * MiB + 7);
    assert.equal(sent.UploadPartCommand, 3);
    assert.equal(await objectSha('originals/stream-ok'), sha());
  });

  test('a small body is stored with one PUT', async () => {
    const res = await uploadStream(store, 'originals/stream-small', Readable.from([Buffer.from('hello')]), {
      meta: { contentType: 'image/png' },
      maxBytes: 100,
    });
    assert.equal(res.bytes, 5);
    const got = await store.getStream('originals/stream-small');
    assert.equal(got.contentType, 'image/png');
    assert.equal(await sha256Of(got.stream), createHash('sha256').update('hello').digest('hex'));
  });

  test('more than maxBytes: UploadTooLargeError, no object, no open multipart upload', async () => {
    const { body } = generated(16 * MiB);
    await assert.rejects(
      uploadStream(store, 'originals/too-big', body, { meta: { contentType: 'image/jpeg' }, maxBytes: 11 * MiB, partSize: 5 * MiB }),
      UploadTooLargeError,
    );
    assert.ok((sent.UploadPartCommand ?? 0) >= 1, 'the limit was hit after parts had been sent');
    assert.equal(await store.head('originals/too-big'), null);
    assert.deepEqual(await openUploads(), []);
  });

  test('an empty body: EmptyInputError and no object', async () => {
    await assert.rejects(
      uploadStream(store, 'originals/empty', Readable.from([]), { meta: { contentType: 'image/jpeg' }, maxBytes: 100 }),
      EmptyInputError,
    );
    assert.equal(await store.head('originals/empty'), null);
    assert.equal(sent.PutObjectCommand, undefined);
  });

  test('S3 failing for good: StorageError, the body is not read to the end, nothing left behind', async () => {
    const key = 'originals/s3-down';
    failing = (r) => (r.path.endsWith(`/${key}`) && r.query.includes('partNumber=') && !r.query.includes('partNumber=1&') ? 'reset' : null);
    const { body, read } = generated(200 * MiB);
    try {
      const flakyStore = new S3Store({ ...servers.s3, endpoint: proxy.url, bucket: store.bucket, forcePathStyle: true }, { maxAttempts: 2 });
      await assert.rejects(
        uploadStream(flakyStore, key, body, { meta: { contentType: 'image/jpeg' }, maxBytes: 1024 * MiB, partSize: 5 * MiB }),
        { code: 'HUGEMAP_ERR_STORAGE' },
      );
    } finally {
      failing = () => null;
    }
    assert.ok(read() < 100 * MiB, `read ${read()} bytes of a body nobody could store`);
    assert.equal(await store.head(key), null);
    assert.deepEqual(await openUploads(), []);
  });

  test('a body that fails half-way leaves no object and no open multipart upload', async () => {
    const { body } = generated(20 * MiB, 12 * MiB);
    await assert.rejects(
      uploadStream(store, 'originals/broken', body, { meta: { contentType: 'image/jpeg' }, maxBytes: 100 * MiB, partSize: 5 * MiB }),
      /client went away/,
    );
    assert.equal(await store.head('originals/broken'), null);
    assert.deepEqual(await openUploads(), []);
  });
});

/** Starts a 5 MiB-part upload of the big file that dies once `parts` parts are checkpointed; returns the last saved state. */
async function uploadKilledAfter(key: string, parts: number, concurrency: number): Promise<MultipartState> {
  let saved: MultipartState | null = null;
  await assert.rejects(
    uploadFileResumable(store, key, bigPath, {
      meta: { contentType: 'image/tiff' },
      partSize: 5 * MiB,
      concurrency,
      onCheckpoint: async (state) => {
        saved = state;
        if (state.parts.length >= parts) throw new Error('killed');
      },
    }),
  );
  const state = saved as MultipartState | null;
  assert.ok(state);
  return state;
}
