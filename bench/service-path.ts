/**
 * The full service path, measured as a user sees it: a multipart upload to the API
 * (`hugemap api`) until the worker (`hugemap worker`) has stored the last tile and the
 * status says done. Backing servers (Redis, FerretDB, MinIO) are started once by
 * services/dev/local-servers.ts (or reused from REDIS_URL / MONGO_URL / S3_ENDPOINT).
 * The API and one worker run for the whole benchmark, each under /usr/bin/time -v, warmed
 * up with one small image first, as long-running services are in production; each run's
 * peak RSS per process is the kernel's high-water mark, reset before the run (measure.ts).
 *
 * Second figure, "first view": upload start until the status says (tiles.viewable) that
 * every tile of the levels a viewer needs to show the whole image sharply in a 1024 px
 * window is in S3 (shared/tiling/pyramid.ts, firstViewLevels). Read from the same status
 * events that wait for done (waitUntilDone): listing S3 for it, as this did before, cost MinIO
 * CPU the service path itself then lacked. Before that comes the preview (JPEG inputs): upload start
 * until the status links it, i.e. the whole image at the first-view level's size is in S3
 * (shared/tiling/preview.ts), which is what the viewer shows first.
 */
import { openAsBlob } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { startLocalServers, type LocalServers, type S3ServerKind } from '../services/dev/local-servers.js';
import { createTileQueue } from '../shared/queue.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { workerProcessEnv } from '../workers/process-settings.js';
import { HUGEMAP_CLI } from './contenders.js';
import { canPin, pinToFirstCores, unpin } from './cpu-pinning.js';
import { cpuSecondsOfAll, measuredPid, reschedulingInterrupts, readPeakRssMB, resetPeakRss, round1, sampleAnon, signalMeasured, startTimed, type Measured } from './measure.js';
import { createParser } from 'eventsource-parser';
import sharp from 'sharp';

export interface Stack {
  env: NodeJS.ProcessEnv;
  s3: S3Store;
  workerAllocator: string;
  /** The long-running API and worker that the service-path runs go through (warmed up). */
  services: { url: string; apiPid: number; workerPid: number };
  /** For error messages: which of the API and the worker has exited, with the tail of its stderr. */
  diagnose(): Promise<string>;
  /** Every long-running process of the stack (servers started here, the API, the worker), to pin to cores. */
  pids(): number[];
  stop(): Promise<void>;
}

export interface ServiceRun {
  wallS: number;
  /** CPU seconds of every process of the stack (servers, API, worker) from upload start to done; serving the status events included. */
  cpuS: number;
  firstViewS: number;
  /** Upload start until the preview is in S3; undefined for inputs that get none. */
  previewS?: number;
  acceptedS: number;
  peakRssMB: number;
  apiRssMB: number;
  workerRssMB: number;
  /** The worker's own memory (RssAnon, sampled every 100 ms during the run). */
  workerAnonMB: number;
  outputBytes: number;
}

export interface StackOptions {
  /** Start this S3 server for the stack. Default: the one S3_ENDPOINT names, else MinIO. */
  s3Server?: S3ServerKind;
  /** Warm up with a small image only: for `--quick`, whose numbers mean nothing anyway. */
  quick?: boolean;
}

export async function startStack(dir: string, { s3Server, quick = false }: StackOptions = {}): Promise<Stack> {
  await mkdir(dir, { recursive: true });
  const servers: LocalServers = await startLocalServers({ dataDir: join(dir, 'servers'), logDir: join(dir, 'logs'), env: process.env, s3Server });
  const tag = randomBytes(4).toString('hex');
  const mongo = new URL(servers.mongoUrl);
  if (mongo.pathname === '/' || mongo.pathname === '') mongo.pathname = `/hugemap_bench_${tag}`;
  const s3Settings = {
    endpoint: servers.s3.endpoint,
    region: servers.s3.region,
    bucket: `hugemap-bench-${tag}`,
    accessKeyId: servers.s3.accessKeyId,
    secretAccessKey: servers.s3.secretAccessKey,
    forcePathStyle: true,
  };
  const s3 = new S3Store(s3Settings);
  await s3.ensureBucket();
  // As in production: the worker's allocator and heap settings (workers/process-settings.ts).
  const workerSettings = workerProcessEnv(process.env);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: servers.redisUrl,
    MONGO_URL: mongo.toString(),
    S3_ENDPOINT: s3Settings.endpoint,
    S3_REGION: s3Settings.region,
    S3_BUCKET: s3Settings.bucket,
    S3_ACCESS_KEY_ID: s3Settings.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3Settings.secretAccessKey,
    QUEUE_PREFIX: `bench-${tag}`,
    WORK_DIR: join(dir, 'work'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    // A private stack on loopback, measured for tiling: its uploads act as the local admin, like `hugemap dev`'s.
    AUTH_MODE: 'open',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const partial = { env, s3 };
  let running: Awaited<ReturnType<typeof startServices>> | undefined;
  try {
    running = await startServices(partial, join(dir, 'services'));
    const apiPid = running.api!.pid();
    const workerPid = running.workerProcs[0]!.pid();
    if (!apiPid || !workerPid) throw new Error('api or worker exited after starting');
    // A service is measured warm, as it runs in production: one image through it first, with enough
    // tiles (about 700) for V8 to have optimised the per-tile paths (re-coding, signing, PUTs) as a
    // long-running worker has. After a 1500x1000 warm-up the first measured 236 MP job still cost
    // the worker 0.3-0.8 CPU-s more than the next ones (bench/service-cpu.ts).
    const warmUp = join(dir, 'warm-up.jpg');
    const noise = { type: 'gaussian' as const, mean: 128, sigma: 40 };
    const [width, height] = quick ? [512, 512] : [8192, 4096];
    await sharp({ create: { width, height, channels: 3, background: '#4a7', noise } }).jpeg({ quality: 90 }).toFile(warmUp);
    const id = await upload(running.url, warmUp);
    await waitUntilDone(running.url, id);
    await removeImage(running.url, s3, id);
    const services = { url: running.url, apiPid, workerPid };
    const procs = running;
    const exited = async (name: string, proc: Proc | undefined) => {
      if (!proc || proc.pid() !== undefined) return `${name} running`;
      const m = await proc.done;
      return `${name} exited (${m.exitCode}):\n${m.stderrTail}`;
    };
    return {
      ...partial,
      services,
      async diagnose() {
        return (await Promise.all([exited('api', procs.api), exited('worker', procs.workerProcs[0])])).join('\n');
      },
      pids: () => [...servers.pids, procs.api!.pid(), procs.workerProcs[0]!.pid()].filter((pid): pid is number => !!pid),
      workerAllocator: workerSettings.LD_PRELOAD?.includes('jemalloc')
        ? `jemalloc (LD_PRELOAD, MALLOC_CONF=${workerSettings.MALLOC_CONF}), NODE_OPTIONS=${workerSettings.NODE_OPTIONS}`
        : `glibc, NODE_OPTIONS=${workerSettings.NODE_OPTIONS}`,
      async stop() {
        await Promise.allSettled([procs.api!.stop(), ...procs.workerProcs.map((w) => w.stop())]);
        await s3.deletePrefix('').catch(() => undefined);
        await servers.stop();
      },
    };
  } catch (err) {
    await Promise.allSettled([running?.api?.stop(), ...(running?.workerProcs ?? []).map((w) => w.stop())]);
    await servers.stop();
    throw err;
  }
}

interface Proc {
  done: Promise<Measured>;
  pid(): number | undefined;
  stop(): Promise<Measured>;
}

function startProc(stack: Pick<Stack, 'env'>, role: 'api' | 'worker', reportPath: string, extraEnv: NodeJS.ProcessEnv = {}): { proc: Proc; ready: Promise<string> } {
  // A worker starts as `hugemap dev` and docker-compose.yml start one (workers/process-settings.ts).
  const env = role === 'worker' ? workerProcessEnv({ ...stack.env, ...extraEnv }) : { ...stack.env, ...extraEnv };
  // No time limit: a service runs until the benchmark stops it (a --giga run takes over an hour).
  const { child, done } = startTimed(process.execPath, [HUGEMAP_CLI, role], reportPath, { env, timeoutMs: null });
  const ready = new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: role === 'api' ? child.stdout! : child.stderr! });
    lines.on('line', (line) => {
      if (role === 'api') {
        const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
        if (url) resolve(url);
      } else if (line.includes('worker ready')) resolve('');
    });
    void done.then((m) => reject(new Error(`${role} exited while starting (${m.exitCode}):\n${m.stderrTail}`)), reject);
  });
  return {
    proc: {
      done,
      pid: () => measuredPid(child),
      async stop() {
        signalMeasured(child, 'SIGTERM');
        return done;
      },
    },
    ready,
  };
}

/** Starts the API (unless `api` is false) and `workers` worker processes, each measured, and waits until all are ready. */
export async function startServices(stack: Pick<Stack, 'env'>, dir: string, workers = 1, api = true, workerEnv: NodeJS.ProcessEnv = {}): Promise<{ url: string; api: Proc | undefined; workerProcs: Proc[] }> {
  await mkdir(dir, { recursive: true });
  const apiStarted = api ? startProc(stack, 'api', join(dir, 'api.time')) : undefined;
  // The worker logs at warn level for the bench, but announces readiness at info: ask for it.
  const started = Array.from({ length: workers }, (_, i) => startProc(stack, 'worker', join(dir, `worker-${i}.time`), { ...workerEnv, LOG_LEVEL: 'info' }));
  try {
    const url = apiStarted ? await apiStarted.ready : '';
    await Promise.all(started.map((w) => w.ready));
    return { url, api: apiStarted?.proc, workerProcs: started.map((w) => w.proc) };
  } catch (err) {
    await Promise.allSettled([apiStarted?.proc.stop(), ...started.map((w) => w.proc.stop())]);
    throw err;
  }
}

export async function upload(apiUrl: string, path: string): Promise<string> {
  const form = new FormData();
  form.set('file', await openAsBlob(path), path.split('/').pop()!);
  const res = await fetch(`${apiUrl}/api/v1/images`, { method: 'POST', body: form });
  const body = (await res.json()) as { id?: string; error?: { code: string; message: string } };
  if (res.status !== 202 || !body.id || (body as { duplicate?: boolean }).duplicate) throw new Error(`upload refused: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

type StatusPoll = { status: string; error?: unknown; tiles?: { viewable?: boolean }; links?: { preview?: string | null } };

/**
 * Resolves once the image is done (rejects once it failed), watching its server-sent events as the
 * viewer and the upload page watch a job: GET /api/v1/images/:id/events sends the status now, then
 * each change as the worker writes it (pushed through Redis), and ends after a terminal one.
 * `onStatus` sees every status, as it arrives. A stream that breaks off is opened again (its first
 * event is the status then). Polling every 100 ms instead, as the bench once did, put requests on
 * the API and FerretDB that no user makes, on the same two cores as the job, and saw each change up
 * to 100 ms late.
 */
export async function waitUntilDone(apiUrl: string, id: string, timeoutMs = 10 * 60_000, onStatus?: (doc: StatusPoll) => void): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  for (let attempt = 1; ; attempt++) {
    let terminal: StatusPoll | undefined;
    try {
      const res = await fetch(`${apiUrl}/api/v1/images/${id}/events`, { signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} from the event stream`);
      const parser = createParser({
        onEvent: (event) => {
          const doc = JSON.parse(event.data) as StatusPoll;
          onStatus?.(doc);
          if (doc.status === 'done' || doc.status === 'failed') terminal ??= doc;
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (terminal) break; // leaving the loop closes the stream
      }
    } catch (err) {
      if (signal.aborted) throw new Error(`image ${id} not done after ${timeoutMs} ms`, { cause: err });
      if (attempt >= 10) throw new Error(`event stream failed ${attempt} times: ${String((err as Error).cause ?? err)}`, { cause: err });
    }
    if (terminal?.status === 'done') return;
    if (terminal) throw new Error(`image ${id} failed: ${JSON.stringify(terminal.error)}`);
    if (attempt >= 10) throw new Error(`event stream of image ${id} ended ${attempt} times without a final status`);
    await sleep(200);
  }
}

export async function runServicePath(stack: Stack, image: { path: string; width: number; height: number }): Promise<ServiceRun> {
  const { url, apiPid, workerPid } = stack.services;
  resetPeakRss(apiPid);
  resetPeakRss(workerPid);
  const workerAnon = sampleAnon(() => workerPid);
  let id: string | undefined;
  try {
    const cpu0 = cpuSecondsOfAll(stack.pids());
    const t0 = performance.now();
    id = await upload(url, image.path);
    const acceptedS = (performance.now() - t0) / 1000;
    // First view: when the worker's status says every tile of the first-view levels is in S3
    // (tiles.viewable, set from its upload checkpoint), seen in the same status events that wait for done.
    let firstViewS = Number.NaN;
    let previewS: number | undefined;
    await waitUntilDone(url, id, undefined, (doc) => {
      if (Number.isNaN(firstViewS) && doc.tiles?.viewable) firstViewS = (performance.now() - t0) / 1000;
      if (previewS === undefined && doc.links?.preview) previewS = (performance.now() - t0) / 1000;
    });
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = Math.round((cpuSecondsOfAll(stack.pids()) - cpu0) * 100) / 100;
    if (Number.isNaN(firstViewS)) firstViewS = wallS; // first said viewable by the done status itself
    const apiRssMB = readPeakRssMB(apiPid);
    const workerRssMB = readPeakRssMB(workerPid);
    const workerAnonMB = workerAnon.stop();
    let outputBytes = 0;
    for await (const o of stack.s3.listKeys(`images/${id}/`)) outputBytes += o.size;
    return { wallS, cpuS, firstViewS, ...(previewS === undefined ? {} : { previewS }), acceptedS, apiRssMB, workerRssMB, workerAnonMB, peakRssMB: Math.max(apiRssMB, workerRssMB), outputBytes };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await stack.diagnose()}`, { cause: err });
  } finally {
    workerAnon.stop();
    if (id) await removeImage(url, stack.s3, id);
  }
}

/**
 * The API recognises an upload it has seen (same bytes) and answers "duplicate" without
 * work, so every run deletes its image through the API: the next run of the same file is
 * processed again.
 */
export async function removeImage(apiUrl: string, s3: S3Store, id: string): Promise<void> {
  const res = await fetch(`${apiUrl}/api/v1/images/${id}`, { method: 'DELETE' }).catch(() => undefined);
  await res?.arrayBuffer();
  await Promise.allSettled([s3.deletePrefix(`images/${id}/`), s3.deletePrefix(`originals/${id}`)]);
}

export interface ThroughputRun {
  workers: number;
  /** Cores the whole stack was confined to during the run, or null where taskset is missing (all cores). */
  cores: number | null;
  images: number;
  seconds: number;
  imagesPerMinute: number;
  /** CPU seconds of every pinned process (servers, API, workers, this process) from resuming the queue to the last image done. */
  cpuSeconds: number;
  /** Of `cpuSeconds`, the workers'. */
  workerCpuSeconds: number;
  /** Rescheduling interrupts meanwhile, all CPUs (a task woken on another core); null where /proc/interrupts has none. */
  wakeups: number | null;
  workerRssMB: number[];
}

/**
 * Images per minute for a queue, N workers on N cores. The N workers, each with one libvips thread
 * (WORKER_VIPS_THREADS=1, the default, named here so the figure does not follow it), are started first and wait, ready, on a paused queue
 * while every image is uploaded; then the whole stack (servers, API, workers and this process) is
 * confined to the first N cores, and the clock runs from resuming the queue until the last image is
 * done. Afterwards every process gets all cores back. Workers in production are long-running, so
 * their start-up (Node and module loading, 1-2 s a process here) is no part of a queue's time;
 * counted in, as it was until 2026-12-03, it was 5-10% of a four-image run, the same in both rows,
 * which understated how throughput scales.
 */
export async function runThroughput(stack: Stack, paths: string[], workers: number, dir: string): Promise<ThroughputRun> {
  await rm(dir, { recursive: true, force: true });
  // A queue of its own, so the stack's long-running worker does not take these jobs.
  const own = { env: { ...stack.env, QUEUE_PREFIX: `${stack.env.QUEUE_PREFIX}-tp${workers}` } };
  const front = await startServices(own, join(dir, 'api'), 0);
  const api = front.api!;
  const queue = createTileQueue(stack.env.REDIS_URL!, own.env.QUEUE_PREFIX);
  const ids: string[] = [];
  let started: Proc[] = [];
  const cores = canPin() ? Math.min(workers, cpus().length) : null;
  let pinned: number[] = [];
  try {
    await queue.pause();
    started = (await startServices(own, join(dir, 'workers'), workers, false, { WORKER_VIPS_THREADS: '1' })).workerProcs;
    for (const p of paths) ids.push(await upload(front.url, p));
    pinned = [process.pid, ...stack.pids(), api.pid(), ...started.map((w) => w.pid())].filter((pid): pid is number => !!pid);
    if (cores !== null) await pinToFirstCores(pinned, cores);
    const workerPids = started.map((w) => w.pid()).filter((pid): pid is number => !!pid);
    const cpu0 = cpuSecondsOfAll(pinned);
    const workerCpu0 = cpuSecondsOfAll(workerPids);
    const wakeups0 = reschedulingInterrupts();
    const t0 = performance.now();
    await queue.resume();
    await Promise.all(ids.map((id) => waitUntilDone(front.url, id)));
    const seconds = (performance.now() - t0) / 1000;
    const cpuSeconds = cpuSecondsOfAll(pinned) - cpu0;
    const workerCpuSeconds = cpuSecondsOfAll(workerPids) - workerCpu0;
    const wakeups1 = reschedulingInterrupts();
    const measured = await Promise.all(started.map((w) => w.stop()));
    return {
      workers,
      cores,
      images: paths.length,
      seconds: round1(seconds),
      imagesPerMinute: round1((paths.length / seconds) * 60),
      cpuSeconds: round1(cpuSeconds),
      workerCpuSeconds: round1(workerCpuSeconds),
      wakeups: wakeups0 === null || wakeups1 === null ? null : wakeups1 - wakeups0,
      workerRssMB: measured.map((m) => m.peakRssMB),
    };
  } finally {
    if (cores !== null) await unpin(pinned);
    for (const id of ids) await removeImage(front.url, stack.s3, id);
    await Promise.allSettled([api.stop(), ...started.map((w) => w.stop())]);
    await queue.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
