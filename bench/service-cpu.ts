/**
 * `TMPDIR=/dev/shm node --import tsx bench/service-cpu.ts [IMAGE] [RUNS] [minio|versitygw]`: where the CPU of one
 * service-path job goes. Starts the bench stack (service-path.ts: Redis, FerretDB, MinIO, the API
 * and one worker, warmed up), uploads IMAGE (default the 236 MP corpus photo) RUNS times (default 2)
 * and prints, per run, the wall time and the CPU seconds (utime + stime from /proc/PID/stat) each
 * process of the stack spent from upload start to done. The job is watched on its status events, as
 * the bench watches it (service-path.ts waitUntilDone); serving them is part of the API's share.
 * The third argument starts that S3 server for the stack (default: S3_ENDPOINT's, else MinIO); its
 * CPU is counted like the rest.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cpuSecondsOf as cpuSeconds } from './measure.js';
import { removeImage, startStack, upload, waitUntilDone } from './service-path.js';
import { isS3ServerKind, S3_SERVER_KINDS } from '../services/dev/local-servers.js';

const image = process.argv[2] ?? join(homedir(), '.cache/hugemap-corpus/photo-236mp.jpg');
const runs = Number(process.argv[3] ?? 2);
const s3Server = process.argv[4];
if (s3Server !== undefined && !isS3ServerKind(s3Server)) throw new Error(`the S3 server is ${S3_SERVER_KINDS.join(' or ')}, not ${s3Server}`);
function processName(pid: number): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const hugemap = argv.findIndex((a) => a.endsWith('hugemap.js'));
  return hugemap >= 0 ? `hugemap ${argv[hugemap + 1]}` : argv[0]!.split('/').pop()!.split(' ')[0]!;
}

const stack = await startStack(join(process.env.TMPDIR ?? '/tmp', `hugemap-service-cpu-${process.pid}`), { s3Server });
try {
  const pids = stack.pids();
  for (let run = 1; run <= runs; run++) {
    const before = new Map(pids.map((p) => [p, cpuSeconds(p)]));
    const t0 = performance.now();
    const id = await upload(stack.services.url, image);
    await waitUntilDone(stack.services.url, id);
    const wall = (performance.now() - t0) / 1000;
    const shares = pids.map((p) => ({ name: processName(p), cpu: cpuSeconds(p) - before.get(p)! }));
    const total = shares.reduce((n, s) => n + s.cpu, 0);
    console.log(`run ${run}: ${wall.toFixed(2)} s wall, ${total.toFixed(2)} CPU-s in all: ${shares.map((s) => `${s.name} ${s.cpu.toFixed(2)}`).join(', ')}`);
    await removeImage(stack.services.url, stack.s3, id);
  }
} finally {
  await stack.stop();
}
