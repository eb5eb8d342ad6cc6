/**
 * The worker's preview stage (workers/stages/preview.ts) on its own, against the
 * real S3 (MinIO) and status store (FerretDB): what it stores, what it leaves
 * alone, and that nothing it meets makes it throw.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { Config } from '../shared/config.js';
import { imageKeys, newImageDoc } from '../shared/image-status.js';
import { createLogger } from '../shared/logger.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { probeImage } from '../shared/tiling/probe.js';
import { jobPaths, ThrottledReporter, type JobContext } from '../workers/job-context.js';
import { PREVIEW_BESIDE_CUT_MAX_PIXELS, previewBesideCut, storePreview } from '../workers/stages/preview.js';
import { tileOriginal } from '../workers/stages/tile.js';
import { gradient, tempDir, truncatedCopy } from './helpers/fixtures.js';
import { useTestServers } from './helpers/servers.js';
import { testConfig } from './helpers/test-config.js';

const servers = await useTestServers();
const tmp = await tempDir('hugemap-worker-preview-');
let config: Config;
let s3: S3Store;
let store: StatusStore;

before(async () => {
  config = await testConfig(servers, 'worker-preview');
  s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  store = await StatusStore.connect(config.mongoUrl);
});

after(async () => {
  await store?.close();
  await tmp.remove();
});

/** A job context for `source` as the worker builds one after the fetch stage: the original in the job's folder, the status document in MongoDB. */
async function jobFor(name: string, source: string, overrides: Partial<Config> = {}): Promise<JobContext> {
  const id = `preview-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const doc = newImageDoc(id, { kind: 'upload', filename: name }, null);
  await store.create(doc);
  const paths = jobPaths(config.workDir, id);
  await mkdir(paths.dir, { recursive: true });
  await copyFile(source, paths.originalPath);
  return {
    config: { ...config, ...overrides },
    store,
    s3,
    logger: createLogger('worker-preview-test', 'silent'),
    id,
    doc,
    ...paths,
    report: new ThrottledReporter(async (set) => store.update(id, set)),
  };
}

async function run(ctx: JobContext): Promise<{ stored: Buffer | null; status: { width: number; height: number } | undefined }> {
  await storePreview(ctx, await probeImage(ctx.originalPath, { maxPixels: config.maxPixels }));
  const head = await s3.head(imageKeys.preview(ctx.id));
  let stored: Buffer | null = null;
  if (head) {
    const chunks: Buffer[] = [];
    for await (const c of (await s3.getStream(imageKeys.preview(ctx.id))).stream) chunks.push(c as Buffer);
    stored = Buffer.concat(chunks);
  }
  return { stored, status: (await store.get(ctx.id))?.preview };
}

test('a JPEG: the preview at the first-view level size is in S3 with its type, the status names its size, the scratch file is gone', async () => {
  const source = tmp.file('wide.jpg');
  await gradient(3000, 2000).jpeg().toFile(source);
  const ctx = await jobFor('jpeg', source);
  const { stored, status } = await run(ctx);
  assert.ok(stored, 'preview stored');
  const meta = await sharp(stored).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 1500, 1000]);
  assert.deepEqual(status, { width: 1500, height: 1000 });
  const head = await s3.head(imageKeys.preview(ctx.id));
  assert.equal(head?.contentType, 'image/jpeg');
  assert.equal(head?.size, stored.length);
  assert.equal(existsSync(path.join(ctx.dir, 'preview.jpg')), false, 'no scratch file left');

  // A resumed job (the status already names the preview) does not make or store it again.
  await s3.deletePrefix(imageKeys.prefix(ctx.id));
  const resumed = { ...ctx, doc: (await store.get(ctx.id))! };
  assert.equal((await run(resumed)).stored, null);
});

test('WORKER_PREVIEW=false, a PNG, a damaged JPEG: nothing stored, nothing in the status, no error', async () => {
  const jpeg = tmp.file('off.jpg');
  await gradient(1200, 800).jpeg().toFile(jpeg);
  const png = tmp.file('in.png');
  await gradient(1200, 800).png().toFile(png);
  const damaged = await truncatedCopy(jpeg, tmp.file('damaged.jpg'), 0.5);
  for (const [name, source, overrides] of [
    ['off', jpeg, { workerPreview: false }],
    ['png', png, {}],
    ['damaged', damaged, {}],
  ] as const) {
    const ctx = await jobFor(name, source, overrides);
    const { stored, status } = await run(ctx);
    assert.equal(stored, null, name);
    assert.equal(status, undefined, name);
    await rm(ctx.dir, { recursive: true, force: true });
  }
});

test('WORKER_PREVIEW is a validated boolean, on by default', async () => {
  assert.equal(config.workerPreview, true);
  assert.equal((await testConfig(servers, 'x', { WORKER_PREVIEW: 'false' })).workerPreview, false);
  await assert.rejects(testConfig(servers, 'x', { WORKER_PREVIEW: 'sometimes' }), /WORKER_PREVIEW/);
});

test('the preview is made beside the cut up to 300 MP, before it above (where both would not fit in memory)', () => {
  assert.equal(PREVIEW_BESIDE_CUT_MAX_PIXELS, 300e6);
  assert.equal(previewBesideCut({ width: 20480, height: 11520 }), true, 'the 236 MP photo');
  assert.equal(previewBesideCut({ width: 20000, height: 15000 }), true, 'exactly 300 MP');
  assert.equal(previewBesideCut({ width: 20001, height: 15000 }), false);
  assert.equal(previewBesideCut({ width: 40960, height: 23040 }), false, 'the 944 MP photo');
});

test('beside the cut, the first-view tiles are not reported viewable before the preview has settled', async () => {
  const source = tmp.file('gate.jpg');
  await gradient(1200, 800).jpeg().toFile(source);
  const probe = await probeImage(source, { maxPixels: config.maxPixels });
  // A preview still running when the cut ends: every tile is stored, viewable is left to 'done'.
  const pending = await jobFor('gate-pending', source);
  await tileOriginal(pending, probe, new Promise<void>(() => undefined));
  const whilePending = await store.get(pending.id);
  assert.equal(whilePending?.tiles.done, whilePending?.tiles.total);
  assert.equal(whilePending?.tiles.viewable, false);
  // The preview settled first: viewable as soon as the first-view rows are in S3.
  const settled = await jobFor('gate-settled', source);
  await tileOriginal(settled, probe, Promise.resolve());
  assert.equal((await store.get(settled.id))?.tiles.viewable, true);
});
