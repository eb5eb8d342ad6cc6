/**
 * `hugemap s3 setup` against MinIO: the bucket is created, a tile of a public
 * image can be fetched without credentials, an original, a pending upload and a
 * private image's tile cannot; the lifecycle rule for uploads/ and the CORS rule
 * read back as applied; running it twice is harmless.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { GetBucketCorsCommand, GetBucketLifecycleConfigurationCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { useTestServers } from './helpers/servers.js';
import { testConfig } from './helpers/test-config.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { imageObjectTags, setupBucket } from '../shared/storage/s3-setup.js';
import { startTestApi } from './helpers/api-harness.js';
import { newImageDoc } from '../shared/image-status.js';

const servers = await useTestServers();
const root = path.resolve(import.meta.dirname, '..');

test('hugemap s3 setup: public tiles anonymously readable, nothing else; lifecycle and CORS applied', async () => {
  const config = await testConfig(servers, 's3-setup', { APP_BASE_URL: 'https://maps.example.org/', UPLOADS_EXPIRE_DAYS: '3' });
  const env = {
    ...process.env,
    S3_ENDPOINT: config.s3.endpoint!,
    S3_BUCKET: config.s3.bucket,
    S3_ACCESS_KEY_ID: config.s3.accessKeyId!,
    S3_SECRET_ACCESS_KEY: config.s3.secretAccessKey!,
    APP_BASE_URL: 'https://maps.example.org/',
    UPLOADS_EXPIRE_DAYS: '3',
  };
  let report: { cors: { applied: boolean } } = { cors: { applied: false } };
  for (let run = 0; run < 2; run++) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 's3', 'setup'], { cwd: root, env });
    report = JSON.parse(stdout);
    assert.deepEqual({ ...report, cors: { ...report.cors, applied: undefined } }, { bucket: config.s3.bucket, policy: 'applied', lifecycle: { uploadsExpireDays: 3 }, cors: { origins: ['https://maps.example.org'], applied: undefined } });
  }

  const s3 = new S3Store(config.s3);
  after(() => s3.close());
  const put = (Key: string, Tagging?: string) => s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key, Body: `bytes of ${Key}`, ContentType: 'image/jpeg', Tagging }));
  await put('images/pub/image_files/0/0_0.jpeg', imageObjectTags(undefined));
  await put('images/unl/image_files/0/0_0.jpeg', imageObjectTags('unlisted'));
  await put('images/priv/image_files/0/0_0.jpeg', imageObjectTags('private'));
  await put('images/untagged/thumbnail.jpg');
  await put('originals/pub');
  await put('uploads/abc');

  const anonymous = (key: string) => fetch(`${config.s3.endpoint}/${s3.bucket}/${key}`);
  const tile = await anonymous('images/pub/image_files/0/0_0.jpeg');
  assert.equal(tile.status, 200);
  assert.equal(await tile.text(), 'bytes of images/pub/image_files/0/0_0.jpeg');
  assert.equal((await anonymous('images/unl/image_files/0/0_0.jpeg')).status, 200);
  for (const key of ['images/priv/image_files/0/0_0.jpeg', 'images/untagged/thumbnail.jpg', 'originals/pub', 'uploads/abc']) {
    assert.equal((await anonymous(key)).status, 403, key);
  }
  // No anonymous listing either.
  assert.equal((await fetch(`${config.s3.endpoint}/${s3.bucket}?list-type=2`)).status, 403);

  const lifecycle = await s3.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: s3.bucket }));
  const rule = lifecycle.Rules?.find((r) => r.ID === 'expire-abandoned-uploads');
  assert.equal(rule?.Status, 'Enabled');
  assert.equal(rule?.Filter?.Prefix ?? (rule as { Prefix?: string } | undefined)?.Prefix, 'uploads/');
  assert.equal(rule?.Expiration?.Days, 3);
  if (report.cors.applied) {
    const cors = await s3.client.send(new GetBucketCorsCommand({ Bucket: s3.bucket }));
    assert.deepEqual(cors.CORSRules?.map((r) => [r.AllowedOrigins, r.AllowedMethods?.sort()]), [[['https://maps.example.org'], ['GET', 'HEAD']]]);
  }
  // Either way (MinIO: its server-wide CORS setting), the viewer's origin may read a public tile.
  const fromViewer = await fetch(`${config.s3.endpoint}/${s3.bucket}/images/pub/image_files/0/0_0.jpeg`, { headers: { Origin: 'https://maps.example.org' } });
  assert.equal(fromViewer.status, 200);
  assert.ok(['https://maps.example.org', '*'].includes(fromViewer.headers.get('access-control-allow-origin') ?? ''), `Access-Control-Allow-Origin: ${fromViewer.headers.get('access-control-allow-origin')}`);
});

/**
 * An API on a set-up bucket, an image `id` in `status` with `files` stored (tagged public, as a job
 * stores them), what anonymous GETs of them answer, and a PATCH of the image as its owner.
 */
async function imageWithObjects(name: string, id: string, status: 'processing' | 'done', files: string[]) {
  const api = await startTestApi(servers, name);
  after(() => api.close());
  await setupBucket(api.s3, api.config);
  await api.store.create({ ...newImageDoc(id, { kind: 'upload' }, null), status, stage: status === 'done' ? 'done' : 'tile' });
  const keys = files.map((f) => `images/${id}/${f}`);
  const store = () => Promise.all(keys.map((Key) => api.s3.client.send(new PutObjectCommand({ Bucket: api.s3.bucket, Key, Body: 'x', Tagging: imageObjectTags(undefined) }))));
  await store();
  return {
    api,
    store,
    anonymous: () => Promise.all(keys.map(async (key) => (await fetch(`${api.config.s3.endpoint}/${api.s3.bucket}/${key}`)).status)),
    patch: (body: object) => fetch(`${api.base}/api/v1/images/${id}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
  };
}

test('changing an image\'s visibility re-tags its objects: S3 stops serving a private image\'s tiles, and serves them again once public', async () => {
  const { anonymous, patch } = await imageWithObjects('s3-retag', 'RetagImage_01234567890', 'done', ['image.dzi', 'image_files/0/0_0.jpeg', 'thumbnail.jpg']);
  assert.deepEqual(await anonymous(), [200, 200, 200]);
  assert.equal((await patch({ visibility: 'private' })).status, 200);
  assert.deepEqual(await anonymous(), [403, 403, 403]);
  assert.equal((await patch({ visibility: 'unlisted' })).status, 200);
  assert.deepEqual(await anonymous(), [200, 200, 200]);
});

test('visibility cannot change while an image is being cut (its job tags what it stores with the one it started with); its title can; queued, done and failed images can', async () => {
  const id = 'CuttingImage_012345678';
  const { api, store, anonymous, patch } = await imageWithObjects('s3-cutting', id, 'processing', ['image_files/0/0_0.jpeg']);
  const refused = await patch({ visibility: 'private' });
  assert.equal(refused.status, 409);
  const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'HUGEMAP_ERR_CONFLICT');
  assert.match(error.message, /being cut/);
  assert.equal((await api.store.get(id))?.visibility ?? 'public', 'public', 'nothing changed');
  assert.deepEqual(await anonymous(), [200], 'nor the objects\' tags');
  assert.equal((await patch({ title: 'Harbour' })).status, 200, 'the title can change meanwhile');
  assert.equal((await patch({ visibility: 'public' })).status, 200, 'the visibility it has already is no change');

  for (const status of ['queued', 'done', 'failed'] as const) {
    await api.store.update(id, { status, visibility: 'public' });
    await store();
    assert.equal((await patch({ visibility: 'private' })).status, 200, status);
    assert.equal((await api.store.get(id))?.visibility, 'private', status);
    assert.deepEqual(await anonymous(), [403], status);
  }
});
