/**
 * `TMPDIR=/dev/shm node --import tsx bench/s3-put-cost.ts [TILE] [N]`: the CPU one tile PUT costs,
 * client and server. Starts MinIO (services/dev/local-servers.ts, as `hugemap dev` and the tests do),
 * then PUTs TILE (default: a 256 px Q85 JPEG cut from the 59 MP corpus photo, 4.8 KB: the mean tile of the 236 MP photo) N times
 * (default 3000) through S3Store.putSmallObject with 8 in flight, twice (the first round warms up),
 * and prints milliseconds of CPU per PUT for this process and for MinIO (/proc/PID/stat).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import sharp from 'sharp';
import { startLocalServers } from '../services/dev/local-servers.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { cpuSecondsOf as cpuSeconds } from './measure.js';

const n = Number(process.argv[3] ?? 3000);
const IN_FLIGHT = 8;
const tile = process.argv[2]
  ? readFileSync(process.argv[2])
  : await sharp(join(homedir(), '.cache/hugemap-corpus/photo-59mp.jpg')).extract({ left: 5000, top: 3000, width: 256, height: 256 }).jpeg({ quality: 85 }).toBuffer();

const dir = join(process.env.TMPDIR ?? '/tmp', `hugemap-put-cost-${process.pid}`);
const env = { ...process.env, REDIS_URL: 'unused://', MONGO_URL: 'unused://' };
const servers = await startLocalServers({ dataDir: join(dir, 'data'), logDir: join(dir, 'logs'), env });
try {
  const s3 = new S3Store({ ...servers.s3, bucket: 'put-cost', forcePathStyle: true });
  await s3.ensureBucket();
  const minio = servers.pids[servers.started.indexOf('minio')]!;
  for (const round of ['warm-up', 'measured']) {
    const server0 = cpuSeconds(minio);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < n; i = next++) {
          await s3.putSmallObject(`${round}/images/x/image_files/15/${i % 80}_${Math.floor(i / 80)}.jpeg`, tile, { contentType: 'image/jpeg', cacheControl: 'public, max-age=31536000, immutable' });
        }
      }),
    );
    const client = process.cpuUsage(client0);
    console.log(
      `${round}: ${n} PUTs of ${tile.length} bytes in ${((performance.now() - t0) / 1000).toFixed(2)} s; ` +
        `CPU per PUT: this process ${((client.user + client.system) / 1000 / n).toFixed(3)} ms, MinIO ${(((cpuSeconds(minio) - server0) * 1000) / n).toFixed(3)} ms`,
    );
  }
  s3.close();
} finally {
  await servers.stop();
  await rm(dir, { recursive: true, force: true });
}
