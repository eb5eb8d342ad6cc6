/**
 * `hugemap dev` as a user runs it: its own redis-server, FerretDB and MinIO
 * (the test env's URLs are removed), the API and a worker as children. An
 * upload is tiled end to end, survives a restart on the same data folder,
 * and SIGTERM leaves no process behind.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, type AddressInfo } from 'node:net';
import sharp from 'sharp';
import { samplesOf, scrape, valueOf, type Sample } from './helpers/prometheus-text.js';
import { workerMetricsEnv } from '../services/dev/dev-stack.js';

const repoDir = fileURLToPath(new URL('..', import.meta.url));
const READY_TIMEOUT_MS = 120_000;
const DONE_TIMEOUT_MS = 60_000;

/** The environment without any server the test runner started, so dev must start its own. */
function devEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...extra };
  for (const name of ['REDIS_URL', 'MONGO_URL', 'S3_ENDPOINT', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_BUCKET', 'HOST']) {
    delete env[name];
  }
  return env;
}

interface RunningDev {
  child: ChildProcess;
  ready: Promise<string>;
  exit: Promise<number | null>;
  stderr(): string;
}

function startDev(dataDir: string, env = devEnv()): RunningDev {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'dev', '--data-dir', dataDir], {
    cwd: repoDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${READY_TIMEOUT_MS} ms:\n${stderr}`)), READY_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = /^hugemap dev: ready at (http:\/\/\S+)$/.exec(line)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dev exited with ${code} before ready:\n${stderr}`));
    });
  });
  ready.catch(() => {}); // awaited by the test; avoid an unhandled rejection when it is not
  after(() => child.kill('SIGKILL'));
  return { child, ready, exit, stderr: () => stderr };
}

/** Every descendant process id, read from /proc before anything is stopped. */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const taskDir = `/proc/${pid}/task`;
  if (!existsSync(taskDir)) return found;
  for (const task of readdirSync(taskDir)) {
    let children = '';
    try {
      children = readFileSync(join(taskDir, task, 'children'), 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const child of children.split(/\s+/).filter(Boolean).map(Number)) found.push(child, ...descendants(child));
  }
  return found;
}

/** Alive and not a zombie (a reparented child that nobody reaped has ended all the same). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

async function waitUntilDone(url: string, id: string): Promise<{ status: string; links: { dzi: string; tiles: string }; width: number; levels: number }> {
  const deadline = Date.now() + DONE_TIMEOUT_MS;
  for (;;) {
    const res = await fetch(`${url}/api/v1/images/${id}`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { status: string; links: { dzi: string; tiles: string }; width: number; levels: number; error: unknown };
    if (doc.status === 'done') return doc;
    assert.notEqual(doc.status, 'failed', `job failed: ${JSON.stringify(doc.error)}`);
    assert.ok(Date.now() < deadline, `image ${id} not done within ${DONE_TIMEOUT_MS} ms (last status ${doc.status})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('dev starts its own servers, tiles an upload, keeps it across a restart, stops cleanly on SIGTERM and fails when a child dies', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hugemap-dev-test-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  const first = startDev(dataDir);
  const url = await first.ready;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const jpeg = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  const form = new FormData();
  form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), 'small.jpg');
  const upload = await fetch(`${url}/api/v1/images`, { method: 'POST', body: form });
  assert.equal(upload.status, 202);
  const { id } = (await upload.json()) as { id: string };

  const done = await waitUntilDone(url, id);
  assert.equal(done.width, 600);
  const dzi = await fetch(new URL(done.links.dzi, url));
  assert.equal(dzi.status, 200);
  const dziText = await dzi.text();
  assert.match(dziText, /Width="600"/);
  assert.match(dziText, /Height="400"/);
  const tile = await fetch(new URL(`${done.links.tiles}${done.levels - 1}/0_0.jpeg`, url));
  assert.equal(tile.status, 200);
  const meta = await sharp(Buffer.from(await tile.arrayBuffer())).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.ok(meta.width! > 200 && meta.width! <= 258, `top-level tile width ${meta.width}`);

  // redis-server, ferretdb, minio, api and worker at least.
  const pids = descendants(first.child.pid!);
  assert.ok(pids.length >= 5, `expected >= 5 child processes, found ${pids.length}`);
  first.child.kill('SIGTERM');
  assert.equal(await first.exit, 0, first.stderr());
  const left = pids.filter(isRunning);
  assert.deepEqual(left, [], `still running after dev exited: ${left.join(', ')}`);

  // Same data folder: the image, its status and its tiles are still there.
  const second = startDev(dataDir);
  const url2 = await second.ready;
  const again = await waitUntilDone(url2, id);
  assert.equal((await fetch(new URL(again.links.dzi, url2))).status, 200);

  // A worker that dies on its own takes the stack down with a failing exit code.
  const pids2 = descendants(second.child.pid!);
  const worker = pids2.find((pid) => commandLine(pid).endsWith('cli/hugemap.ts worker'));
  assert.ok(worker, `no worker among ${pids2.map((p) => `${p}: ${commandLine(p)}`).join('; ')}`);
  process.kill(worker, 'SIGKILL');
  assert.equal(await second.exit, 1, second.stderr());
  assert.match(second.stderr(), /hugemap dev: the worker exited unexpectedly, stopping/);
  assert.deepEqual(pids2.filter(isRunning), []);
});

/** A port nothing listens on right now (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test('with METRICS_PORT and WORKER_METRICS_PORT, dev serves both processes\' metrics apart from the public port', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hugemap-dev-metrics-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const apiMetrics = await freePort();
  const workerMetrics = await freePort();
  const dev = startDev(dataDir, devEnv({ METRICS_PORT: String(apiMetrics), WORKER_METRICS_PORT: String(workerMetrics), AUTH_MODE: 'open' }));
  const url = await dev.ready;

  const jpeg = await sharp({ create: { width: 900, height: 700, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  const form = new FormData();
  form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), 'small.jpg');
  const upload = await fetch(`${url}/api/v1/images`, { method: 'POST', body: form });
  assert.equal(upload.status, 202);
  const { id } = (await upload.json()) as { id: string };
  await waitUntilDone(url, id);
  const status = (await (await fetch(`${url}/api/v1/images/${id}`)).json()) as { tiles: { total: number } };

  const worker = `http://127.0.0.1:${workerMetrics}`;
  let w: Sample[] = [];
  const deadline = Date.now() + 30_000;
  while (samplesOf((w = await scrape(worker)), 'hugemap_jobs_total', { result: 'done' }).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(valueOf(w, 'hugemap_jobs_total', { result: 'done' }), 1);
  assert.equal(valueOf(w, 'hugemap_tiles_uploaded_total'), status.tiles.total);
  assert.equal(valueOf(w, 'hugemap_job_stage_duration_seconds_count', { stage: 'tile' }), 1);
  assert.equal((await fetch(`${worker}/healthz`)).status, 200);

  const a = await scrape(`http://127.0.0.1:${apiMetrics}`);
  assert.equal(valueOf(a, 'hugemap_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/images', status: '202' }), 1);
  assert.ok(valueOf(a, 'hugemap_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/images/:id', status: '200' }) >= 1);
  assert.equal(valueOf(a, 'hugemap_queue_jobs', { state: 'completed' }), 1);
  assert.ok(valueOf(a, 'process_resident_memory_bytes') > 0);
  assert.equal((await fetch(`${url}/metrics`)).status, 404);

  dev.child.kill('SIGTERM');
  assert.equal(await dev.exit, 0, dev.stderr());
});

test('a missing ferretdb/minio gives one line naming them and the build command', async () => {
  const emptyTools = mkdtempSync(join(tmpdir(), 'hugemap-no-tools-'));
  after(() => rmSync(emptyTools, { recursive: true, force: true }));
  const dataDir = join(emptyTools, 'data');
  const dev = startDev(
    dataDir,
    devEnv({
      HUGEMAP_TOOLS_DIR: emptyTools,
      PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
  );
  assert.equal(await dev.exit, 1);
  await assert.rejects(dev.ready);
  const lines = dev.stderr().trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${dev.stderr()}`);
  assert.match(lines[0]!, /^hugemap dev: HUGEMAP_ERR_MISSING_BINARY: ferretdb, minio not found .*bash tools\/build-test-servers\.sh/);
});

test('worker i of a dev stack gets WORKER_METRICS_PORT + i; unset and 0 stay as they are', () => {
  assert.equal(workerMetricsEnv({ WORKER_METRICS_PORT: '9465' }, 0).WORKER_METRICS_PORT, '9465');
  assert.equal(workerMetricsEnv({ WORKER_METRICS_PORT: '9465' }, 2).WORKER_METRICS_PORT, '9467');
  assert.equal(workerMetricsEnv({ WORKER_METRICS_PORT: '0' }, 3).WORKER_METRICS_PORT, '0');
  assert.equal(workerMetricsEnv({}, 1).WORKER_METRICS_PORT, undefined);
});
