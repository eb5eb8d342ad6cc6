/**
 * A worker whose scratch disk (WORK_DIR) is full: the attempt fails with
 * HUGEMAP_ERR_DISK_FULL, the image is not failed but retried later (a delayed
 * job, with the long transient backoff), the worker stays alive, and once there
 * is room again the image finishes. WORK_DIR is a small tmpfs mounted by the
 * test (it needs root; skipped otherwise) and grown with a remount.
 */
// npm test: runs alone (its worker must fail on a full tmpfs and be put off within a wait)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, waitUntilDone } from './helpers/image-service.js';
import { waitFor } from './helpers/test-config.js';
import { createTileQueue } from '../shared/queue.js';

const servers = await useTestServers();
const canMount = process.getuid?.() === 0;

async function smallDisk(sizeBytes: number): Promise<{ dir: string; grow(bytes: number): void }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir]);
  after(async () => {
    execFileSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, grow: (bytes) => execFileSync('mount', ['-o', `remount,size=${bytes}`, dir]) };
}

async function noisyJpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#553311', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).jpeg({ quality: 90 }).toBuffer();
}

for (const [where, stage, diskBytes, image] of [
  // The original itself does not fit: Node's write fails with ENOSPC.
  ['while fetching the original', 'fetch', 256 * 1024, () => noisyJpeg(800, 600)],
  // The original fits, the tiles libvips cuts from it do not ("vips__file_write: write error ... No space left on device").
  ['while libvips cuts the tiles', 'tile', 1536 * 1024, () => noisyJpeg(1200, 900)],
] as const) {
  test(`disk full ${where}: HUGEMAP_ERR_DISK_FULL, retried later, the worker alive; done once there is room`, { skip: !canMount && 'needs root to mount a tmpfs' }, async () => {
    const disk = await smallDisk(diskBytes);
    const service = await startImageService(servers, 'rel-disk', { WORK_DIR: disk.dir, RETRY_DELAY_MS: '600000', WORKER_PREVIEW: 'false' });
    after(() => service.close());
    const queue = createTileQueue(service.config.redisUrl, service.config.queuePrefix);
    after(() => queue.close());
    const bytes = await image();
    const id = (await upload(service.url, bytes, 'noise.jpg')).json.id as string;

    const job = await waitFor('the attempt to fail and be put off', async () => {
      const j = await queue.getJob(id);
      return j && (await j.getState()) === 'delayed' ? j : undefined;
    }, 120_000, 200);
    const doc = await service.store.get(id);
    assert.equal(doc?.error?.code, 'HUGEMAP_ERR_DISK_FULL', JSON.stringify(doc?.error));
    assert.equal(doc?.status, 'processing', 'not failed: it will be tried again');
    assert.equal(doc?.stage, stage, 'the disk filled up in the stage this case is about');
    assert.equal(job.data.lastError?.kind, 'transient');
    assert.doesNotMatch(doc!.error!.message, new RegExp(disk.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

    // Room again, and no need to wait ten minutes: the same worker takes the job up at once.
    disk.grow(256 * 1024 * 1024);
    await job.promote();
    const done = await waitUntilDone(service.url, id);
    assert.equal(done.status, 'done');
    assert.equal(done.error, null);
  });
}
