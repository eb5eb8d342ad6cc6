/**
 * `node --import tsx bench/worker-memory-limit.ts MEGABYTES [IMAGE]`: does a worker finish a job
 * inside a hard memory limit? Starts the bench stack (service-path.ts), stops the stack's own
 * worker, starts one more worker inside a memory cgroup of MEGABYTES (bench/memory-limit.sh; needs
 * root) with the settings every launcher gives a worker (workers/process-settings.ts), uploads IMAGE
 * (default the 944 MP corpus photo) and prints whether the job was done or the worker killed, with
 * memory-limit.sh's peak RSS and OOM-kill count.
 *
 * Run it with TMPDIR on disk, not on a tmpfs: files on a tmpfs (the worker's copy of the original,
 * its tiles) are charged to the cgroup as memory.
 */
import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { workerProcessEnv } from '../workers/process-settings.js';
import { HUGEMAP_CLI } from './contenders.js';
import { startStack, upload, waitUntilDone } from './service-path.js';

const limitMb = process.argv[2];
if (!limitMb || !/^\d+$/.test(limitMb)) {
  console.error('usage: node --import tsx bench/worker-memory-limit.ts MEGABYTES [IMAGE]');
  process.exit(2);
}
const image = process.argv[3] ?? join(homedir(), '.cache/hugemap-corpus/photo-944mp.jpg');

const stack = await startStack(join(process.env.TMPDIR ?? '/tmp', `hugemap-worker-limit-${process.pid}`));
try {
  process.kill(stack.services.workerPid, 'SIGTERM'); // idle, so it leaves at once; the job must go to the limited one
  const env = workerProcessEnv({ ...stack.env, LOG_LEVEL: 'warn' });
  const limited = spawn('bash', [join(import.meta.dirname, 'memory-limit.sh'), limitMb, process.execPath, HUGEMAP_CLI, 'worker'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => limited.on('exit', (code) => resolve(code)));
  await new Promise((resolve) => setTimeout(resolve, 4000)); // the old worker gone, the new one listening
  const t0 = performance.now();
  const id = await upload(stack.services.url, image);
  const outcome = await Promise.race([
    waitUntilDone(stack.services.url, id, 20 * 60_000).then(() => 'done', (err: unknown) => `failed: ${String(err)}`),
    exited.then((code) => `worker exited (${code}) before the job was done`),
  ]);
  console.log(`${outcome} after ${((performance.now() - t0) / 1000).toFixed(1)} s under ${limitMb} MB`);
  // SIGTERM to the worker itself (bash and /usr/bin/time above it wait and then report).
  spawn('pkill', ['-TERM', '-f', `^${process.execPath} ${HUGEMAP_CLI} worker`]);
  await exited;
} finally {
  await stack.stop();
}
