/**
 * Split jobs (docs/split-jobs.md) through the service: upload -> API -> queue -> a worker that splits
 * the image into bands (BullMQ flow), cuts each, assembles -> S3. The pyramid in S3 is the unsplit
 * one byte for byte; parts and progress are reported; a delete mid-flight leaves nothing; a small
 * image overtakes the bands; a band that fails fails the image with its code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, type ImageService } from './helpers/image-service.js';
import { tempDir } from './helpers/fixtures.js';
import { testConfig, waitFor } from './helpers/test-config.js';
import { assertObjectsTagged, assertPyramidInS3, listKeys, noisy } from './helpers/split-fixtures.js';
import { imageObjectTags } from '../shared/storage/s3-setup.js';
import { createTileQueue, PART_PRIORITY, partJobId, type TileJobData } from '../shared/queue.js';
import { planBands } from '../shared/tiling/band-plan.js';
import { tileImage } from '../shared/tiling/tile-image.js';
import { newImageDoc, type ImageDoc, type SplitState } from '../shared/image-status.js';
import { bandPlanFor } from '../workers/stages/split.js';

/** Images above 600,000 pixels are split (bands of 256 x 2^k rows). */
const SPLIT_PIXELS = 600_000;
let svc: ImageService;
let queue: Queue<TileJobData>;
const tmp = await tempDir('hugemap-split-');

before(async () => {
  const servers = await useTestServers();
  svc = await startImageService(servers, 'split', { WORKER_SPLIT_PIXELS: String(SPLIT_PIXELS), WORKER_LOCK_MS: '3000' });
  queue = createTileQueue(svc.config.redisUrl, svc.config.queuePrefix);
});

after(async () => {
  await queue?.close();
  await svc?.close();
  await tmp.remove();
});

/** Polls the status document until `until` holds, recording every distinct state seen on the way. */
async function watch(id: string, until: (d: ImageDoc) => boolean, seen: ImageDoc[] = []): Promise<ImageDoc> {
  return waitFor(`image ${id}`, async () => {
    const d = await svc.store.get(id);
    if (d) seen.push(d);
    return d && until(d) ? d : undefined;
  }, 120_000, 30);
}

test('WORKER_SPLIT_PIXELS (1 GP) and WORKER_SPLIT_COLUMN_WIDTH (10240 px) by default, 0 allowed (never split, bands whole), negative or fractional refused', async () => {
  const servers = await useTestServers();
  const cases = [['WORKER_SPLIT_PIXELS', 'workerSplitPixels', 1_000_000_000], ['WORKER_SPLIT_COLUMN_WIDTH', 'workerSplitColumnWidth', 10_240]] as const;
  for (const [name, field, byDefault] of cases) {
    assert.equal((await testConfig(servers, 'split-default'))[field], byDefault);
    assert.equal((await testConfig(servers, 'split-default', { [name]: '0' }))[field], 0);
    await assert.rejects(testConfig(servers, 'split-default', { [name]: '-1' }), new RegExp(name));
    await assert.rejects(testConfig(servers, 'split-default', { [name]: '1.5' }), new RegExp(name));
  }
});

test('a retried tile job keeps the bands its image was split into, whatever its own WORKER_SPLIT_PIXELS', () => {
  // Its bands may be queued or running already, their jobs and checkpoints named by index.
  const probe = { width: 1301, height: 2100 };
  const recorded = planBands(1301, 2100, SPLIT_PIXELS)!;
  const splitBefore = { split: { plan: recorded } as SplitState };
  assert.notDeepEqual(planBands(1301, 2100, 200_000), recorded, 'another setting would plan other bands');
  assert.deepEqual(bandPlanFor(splitBefore, probe, 200_000), recorded);
  assert.deepEqual(bandPlanFor(splitBefore, probe, 0), recorded, 'split though this worker never splits');
  assert.deepEqual(bandPlanFor({}, probe, SPLIT_PIXELS), recorded, 'a first attempt plans with its own setting');
  assert.equal(bandPlanFor({}, probe, 0), null);
});

const finished = (d: ImageDoc) => d.status === 'done' || d.status === 'failed';

async function uploadAndCompare(name: string, body: Buffer, filename: string): Promise<ImageDoc> {
  const input = tmp.file(filename);
  await writeFile(input, body);
  const res = await upload(svc.url, body, filename);
  assert.equal(res.status, 202);
  const id: string = res.json.id;
  const seen: ImageDoc[] = [];
  const doc = await watch(id, finished, seen);
  assert.equal(doc.status, 'done', JSON.stringify(doc.error));
  const plan = planBands(doc.width!, doc.height!, SPLIT_PIXELS)!;
  assert.ok(plan.bands >= 2);
  assert.deepEqual(doc.parts, { total: plan.bands, done: plan.bands });
  assert.equal(doc.tiles.done, doc.tiles.total);

  // Parts and progress only ever move forward, and the parts were announced before they were done.
  const parts = seen.filter((d) => d.parts).map((d) => d.parts!.done);
  assert.ok(parts.length > 0 && parts[0]! < plan.bands, `parts seen before done: ${parts.join(',')}`);
  for (let i = 1; i < seen.length; i++) {
    assert.ok(seen[i]!.progress >= seen[i - 1]!.progress, 'progress never goes back');
    assert.ok((seen[i]!.parts?.done ?? 0) >= (seen[i - 1]!.parts?.done ?? 0), 'parts.done never goes back');
  }
  const view = await (await fetch(`${svc.url}/api/v1/images/${id}`)).json();
  assert.deepEqual(view.parts, { total: plan.bands, done: plan.bands }, 'the API shows the parts');

  const whole = tmp.file(`${name}-whole`);
  await tileImage(input, whole, { maxPixels: 1e9, tmpDir: tmp.path });
  const tiles = await assertPyramidInS3(svc.s3, id, whole);
  assert.deepEqual(await listKeys(svc.s3, `work/${id}/`), [], 'the level images are gone');
  // Tagged as the image's visibility, as a whole cut's are, or S3 behind a CDN would not serve them.
  assert.ok(await assertObjectsTagged(svc.s3, `images/${id}/`, imageObjectTags(doc.visibility)) > tiles);
  return doc;
}

test('a JPEG with EXIF orientation 6 and odd sides is split, and its pyramid is the unsplit one byte for byte', async () => {
  const body = await noisy(1211, 1537, 3).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer();
  const doc = await uploadAndCompare('rotated', body, 'rotated.jpg');
  assert.equal(doc.split?.jpegSlices ?? null, null, 'not sliced: its bands are rows of the rotated image, not of the file');
});

test('a PNG with alpha and odd sides is split, and its pyramid is the unsplit one byte for byte', async () => {
  const body = await noisy(1283, 1029, 4).png().toBuffer();
  await uploadAndCompare('alpha', body, 'alpha.png');
});

test('a plain JPEG (direct encoder) is split, its bands read only their own bytes, and its pyramid is the unsplit one byte for byte', async () => {
  const body = await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toBuffer();
  const doc = await uploadAndCompare('plain', body, 'plain.jpg');
  const slices = doc.split?.jpegSlices?.slices;
  assert.ok(slices, 'the bands were cut from JPEG slices');
  assert.ok(slices.every((s, i) => i === 0 || s.startByte > slices[i - 1]!.startByte), 'each band starts further into the file');
  assert.ok(slices.at(-1)!.startByte > body.length / 2, 'the last band does not fetch the rows above it');
});

test('a tiled TIFF (direct encoder) is split, its bands cut from the original\'s rows, and its pyramid is the unsplit one byte for byte', async () => {
  const body = await noisy(1301, 2100, 3).tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 90 }).toBuffer();
  const doc = await uploadAndCompare('tiled', body, 'tiled.tif');
  assert.equal(doc.split?.jpegSlices ?? null, null, 'no JPEG slices: the bands read the TIFF itself');
});

/** A JPEG split into 8 bands of 512 rows: long enough to act on while its bands run. */
async function manyBands(): Promise<Buffer> {
  return noisy(2000, 4096, 3).jpeg({ quality: 85 }).toBuffer();
}

async function jobState(id: string, part: Parameters<typeof partJobId>[1]): Promise<string> {
  return queue.getJobState(partJobId(id, part));
}

test('deleting an image while its bands run stops them and leaves no object, no document and no local folder', async () => {
  const res = await upload(svc.url, await manyBands(), 'delete-me.jpg');
  const id: string = res.json.id;
  const plan = await watch(id, (d) => (d.parts?.done ?? 0) >= 1 || finished(d));
  assert.equal(plan.status, 'processing', 'deleted while its bands run');
  assert.ok(plan.parts!.done < plan.parts!.total);
  const del = await fetch(`${svc.url}/api/v1/images/${id}`, { method: 'DELETE' });
  assert.equal(del.status, 204);
  // Every band then finds the image gone; the assembling job, which BullMQ runs after the last band, clears what was stored late.
  await waitFor('the assembling job to have run', async () => ((await jobState(id, { kind: 'assemble' })) === 'completed' ? true : undefined), 120_000, 50);
  assert.equal(await svc.store.get(id), null);
  for (const prefix of [`images/${id}/`, `work/${id}/`, `originals/${id}`]) assert.deepEqual(await listKeys(svc.s3, prefix), [], prefix);
  assert.deepEqual((await readdir(svc.config.workDir)).filter((n) => n.startsWith(id)), [], 'no local folder left');
});

test('a small image uploaded while a split image is being cut finishes first: bands wait behind whole images', async () => {
  const big = (await upload(svc.url, await manyBands(), 'big.jpg')).json.id as string;
  await waitFor('a band to run', async () => ((await jobState(big, { kind: 'band', index: 0 })) === 'active' ? true : undefined), 60_000, 10);
  const small = (await upload(svc.url, await noisy(500, 400, 3).jpeg().toBuffer(), 'small.jpg')).json.id as string;
  const smallDone = await watch(small, finished);
  assert.equal(smallDone.status, 'done');
  assert.equal(smallDone.parts, undefined, 'the small image is cut whole');
  const bigThen = (await svc.store.get(big))!;
  assert.equal(bigThen.status, 'processing', 'the split image is still being cut when the small one is done');
  assert.ok(bigThen.parts!.done <= bigThen.parts!.total - 2, `bands left: ${bigThen.parts!.total - bigThen.parts!.done}`);
  const bigDone = await watch(big, finished);
  assert.equal(bigDone.status, 'done', JSON.stringify(bigDone.error));
  assert.deepEqual(bigDone.parts, { total: 8, done: 8 });
});

test('a band that fails fails the image with its code; nothing of the pyramid is left, the original is', async () => {
  const whole = await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toBuffer();
  // The header is whole, so the image is split; the bands past the cut-off find the data missing.
  const truncated = whole.subarray(0, Math.floor(whole.length * 0.6));
  const id = (await upload(svc.url, truncated, 'truncated.jpg')).json.id as string;
  const doc = await watch(id, finished);
  assert.equal(doc.status, 'failed');
  assert.equal(doc.error?.code, 'HUGEMAP_ERR_CORRUPT_IMAGE');
  assert.equal(doc.parts?.total, 5);
  await waitFor('BullMQ to fail the assembling job', async () => ((await jobState(id, { kind: 'assemble' })) === 'failed' ? true : undefined), 60_000, 50);
  assert.deepEqual(await listKeys(svc.s3, `images/${id}/`), []);
  assert.deepEqual(await listKeys(svc.s3, `work/${id}/`), []);
  assert.deepEqual(await listKeys(svc.s3, `originals/${id}`), [`originals/${id}`]);

  // A band whose earlier attempt failed for a passing reason keeps its folder (the original it
  // fetched) for the retry; the retry that finds the image failed removes it.
  const kept = join(svc.config.workDir, `${id}.b2`);
  await mkdir(kept, { recursive: true });
  await writeFile(join(kept, 'original'), whole);
  const retry = await queue.add('band', { imageId: id, part: { kind: 'band', index: 2 } }, { jobId: `${id}.band2.retry`, priority: PART_PRIORITY });
  const returned = await waitFor('the retried band to finish', async () => {
    const job = await queue.getJob(retry.id!);
    return job?.finishedOn ? String(job.returnvalue) : undefined;
  }, 60_000, 50);
  assert.equal(returned, 'image-failed');
  assert.equal(existsSync(kept), false, 'the band folder kept for its retry is gone');
});

test('a split image that failed after some bands were done is cut again from nothing when retried, and completes as unsplit', async () => {
  const body = await noisy(1301, 2100, 3).jpeg({ quality: 88 }).toBuffer();
  const input = tmp.file('retried.jpg');
  await writeFile(input, body);
  const id = (await upload(svc.url, body, 'retried.jpg')).json.id as string;
  const first = await watch(id, finished);
  assert.equal(first.status, 'done', JSON.stringify(first.error));
  const bands = first.parts!.total;
  // What a band failing for good leaves (job-failure.ts, remove-image-data.ts): the other bands finished
  // and recorded, their checkpoints kept, their tiles and level images deleted, the image failed.
  await svc.s3.deletePrefix(`images/${id}/`);
  await svc.s3.deletePrefix(`work/${id}/`);
  await svc.store.update(id, { status: 'failed', stage: 'tile', error: { code: 'HUGEMAP_ERR_STORAGE', message: 'a band could not store its tiles' } });
  assert.equal((await svc.store.get(id))?.split?.finished.length, bands, 'the failed run\'s record is there to be (wrongly) trusted');
  // A band of the failed run still waiting (delayed after a failed attempt), under the id the new run's band 0
  // gets: BullMQ hands a job whose parent is gone to the new parent (handleDuplicatedJob.lua).
  const band0 = { kind: 'band', index: 0 } as const;
  await queue.add('band', { imageId: id, part: band0 }, { jobId: partJobId(id, band0), priority: PART_PRIORITY, delay: 600_000 });

  const retried = await fetch(`${svc.url}/api/v1/images/${id}/retry`, { method: 'POST' });
  assert.equal(retried.status, 202, await retried.text());
  const seen: ImageDoc[] = [];
  const doc = await watch(id, finished, seen);
  assert.equal(doc.status, 'done', JSON.stringify(doc.error));
  assert.deepEqual(doc.parts, { total: bands, done: bands });
  assert.ok(seen.some((d) => d.status !== 'failed' && (d.parts?.done ?? 0) < bands), 'the bands were cut again, not taken as done');
  assert.equal(await (await queue.getJob(partJobId(id, band0)))?.getState(), 'completed', 'the waiting band did not hold the new run back');
  const whole = tmp.file('retried-whole');
  await tileImage(input, whole, { maxPixels: 1e9, tmpDir: tmp.path });
  await assertPyramidInS3(svc.s3, id, whole);
});

test('a band or assembling job of an earlier run, which finds its image queued again and not split yet, ends without touching it', async () => {
  // Bands wait behind whole images: one can still be queued when its image fails and is retried.
  const id = 'StaleParts_0123456789a';
  await svc.store.create(newImageDoc(id, { kind: 'upload', filename: 'stale.jpg', bytes: 1 }, null));
  const outcomes: string[] = [];
  for (const part of [{ kind: 'band', index: 3 }, { kind: 'assemble' }] as const) {
    const job = await queue.add(part.kind, { imageId: id, part }, { jobId: `${partJobId(id, part)}.stale`, priority: PART_PRIORITY });
    outcomes.push(await waitFor(`the stale ${part.kind} job to finish`, async () => {
      const j = await queue.getJob(job.id!);
      return j?.finishedOn ? `${j.returnvalue ?? j.failedReason}` : undefined;
    }, 60_000, 50));
  }
  assert.deepEqual(outcomes, ['stale-part', 'stale-part']);
  const doc = await svc.store.get(id);
  assert.deepEqual([doc?.status, doc?.error ?? null, doc?.split], ['queued', null, undefined], 'not failed, nothing recorded');
});
