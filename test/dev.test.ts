/**
 * `hugemap dev` as a user runs it: its own redis-server, FerretDB and MinIO
 * (the test env's URLs are removed), the API and N workers as children. Its
 * ready output names the addresses and the auth mode; an upload (open on
 * loopback, no sign-in) is tiled end to end and survives a restart on the
 * same data folder; SIGTERM, or Ctrl-C through `npm run` (SIGINT to the whole
 * process group), leaves no process behind.
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
  /** The URL, once the ready output (up to its last address line) has been printed. */
  ready: Promise<string>;
  exit: Promise<number | null>;
  /** The signal that ended the process, once it has exited (npm re-raises the one it got). */
  exitSignal(): NodeJS.Signals | null;
  stdout(): string;
  stderr(): string;
}

interface DevLaunch {
  env?: NodeJS.ProcessEnv;
  /** Extra `hugemap dev` arguments. */
  args?: string[];
  /** `npm`: through `npm run dev`, in a process group of its own, as a terminal runs it. */
  via?: 'node' | 'npm';
}

function startDev(dataDir: string, { env = devEnv(), args = [], via = 'node' }: DevLaunch = {}): RunningDev {
  const devArgs = ['--data-dir', dataDir, ...args];
  const child =
    via === 'npm'
      ? spawn('npm', ['run', 'dev', '--', ...devArgs], { cwd: repoDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'dev', ...devArgs], { cwd: repoDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let exitSignal: NodeJS.Signals | null = null;
  // 'close', not 'exit': its output is all read by then (npm's exit can come before the last lines of its script).
  const exit = new Promise<number | null>((resolve) =>
    child.on('close', (code, signal) => {
      exitSignal = signal;
      resolve(code);
    }),
  );
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within ${READY_TIMEOUT_MS} ms:\n${stderr}`)), READY_TIMEOUT_MS);
    let url: string | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout += `${line}\n`;
      url ??= /^hugemap dev: ready at (http:\/\/\S+)$/.exec(line)?.[1];
      // The API reference is the last address of the ready output.
      if (url && /^ {2}API reference: /.test(line)) {
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
  after(() => {
    if (via === 'npm') {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    } else {
      child.kill('SIGKILL');
    }
  });
  return { child, ready, exit, exitSignal: () => exitSignal, stdout: () => stdout, stderr: () => stderr };
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
  // On loopback it runs open (no AUTH_MODE in the environment), says so, and ends with the addresses.
  const readyLines = first.stdout().trimEnd().split('\n');
  assert.match(first.stdout(), /^ {2}auth: open: /m);
  assert.match(first.stdout(), /^ {2}1 worker; /m);
  assert.deepEqual(readyLines.slice(-5).map((l) => l.trim()), [
    `web app:         ${url}/`,
    `gallery:         ${url}/gallery`,
    `queue dashboard: ${url}/admin/queues`,
    `API:             ${url}/api/v1/images`,
    `API reference:   ${url}/api/docs`,
  ]);
  // Every address it prints answers, the queue dashboard too (open: this machine's user is the admin).
  for (const line of readyLines.slice(-5)) {
    const address = line.slice(line.indexOf('http'));
    assert.equal((await fetch(address, { redirect: 'manual' })).status, 200, address);
  }

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

  // Same data folder, now with three workers: the image, its status and its tiles are still there.
  const second = startDev(dataDir, { args: ['--workers', '3'] });
  const url2 = await second.ready;
  assert.match(second.stdout(), /^ {2}3 workers; /m);
  const again = await waitUntilDone(url2, id);
  assert.equal((await fetch(new URL(again.links.dzi, url2))).status, 200);

  const pids2 = descendants(second.child.pid!);
  const workers = pids2.filter((pid) => commandLine(pid).endsWith('cli/hugemap.ts worker'));
  assert.equal(workers.length, 3, `workers among ${pids2.map((p) => `${p}: ${commandLine(p)}`).join('; ')}`);

  // A worker that dies on its own takes the stack down with a failing exit code.
  process.kill(workers[1]!, 'SIGKILL');
  assert.equal(await second.exit, 1, second.stderr());
  assert.match(second.stderr(), /hugemap dev: the worker-\d exited unexpectedly, stopping/);
  assert.deepEqual(pids2.filter(isRunning), []);
});

test('Ctrl-C through npm run: SIGINT to the whole process group stops every child, once, before npm returns', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hugemap-dev-npm-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  // LOG_LEVEL=info for the workers' "worker ready" lines: the ready output waits for the API only,
  // and a worker still starting has no signal handlers yet (it would die without its drain line).
  const dev = startDev(dataDir, { via: 'npm', args: ['--workers', '2'], env: devEnv({ LOG_LEVEL: 'info' }) });
  await dev.ready;
  const deadline = Date.now() + 60_000;
  while (!['worker-1', 'worker-2'].every((w) => new RegExp(`\\[${w}\\] .*worker ready`).test(dev.stdout() + dev.stderr()))) {
    if (Date.now() > deadline) throw new Error(`the workers did not say ready:\n${dev.stdout()}${dev.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // npm, its shell, hugemap dev, redis-server, ferretdb, minio, the api and two workers.
  const pids = descendants(dev.child.pid!);
  assert.equal(pids.filter((pid) => commandLine(pid).endsWith('cli/hugemap.ts worker')).length, 2);
  assert.ok(pids.length >= 7, `expected >= 7 descendants of npm, found ${pids.map((p) => commandLine(p)).join('; ')}`);

  // What a terminal does on Ctrl-C: the signal goes to the foreground process group (npm, sh,
  // hugemap dev), and npm relays it to the shell (where that copy reaches dev as well, signal-sequence
  // in test/cli.test.ts covers it).
  process.kill(-dev.child.pid!, 'SIGINT');
  const code = await dev.exit;
  // npm waits for its script, then re-raises the SIGINT it got on itself, as a shell expects.
  assert.ok(code === 0 || dev.exitSignal() === 'SIGINT', `npm ended with ${code} / ${dev.exitSignal()}:\n${dev.stderr()}`);
  assert.match(dev.stderr(), /hugemap dev: SIGINT received, stopping/);
  const left = pids.filter(isRunning);
  assert.deepEqual(left, [], `still running: ${left.map((p) => `${p} ${commandLine(p)}`).join('; ')}`);
  assert.equal(dev.stderr().match(/SIGINT received, stopping/g)?.length, 1, 'one Ctrl-C is one stop');
  assert.doesNotMatch(dev.stderr(), /exiting now/, 'the relayed copy of the same Ctrl-C does not cut the drain short');
  assert.match(dev.stderr(), /\[worker-2\] .*SIGTERM received, shutting down/);
});

test('dev on a network address refuses AUTH_MODE=open before starting anything', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'hugemap-dev-open-')), 'data');
  after(() => rmSync(dirname(dataDir), { recursive: true, force: true }));
  const dev = startDev(dataDir, { env: devEnv({ AUTH_MODE: 'open' }), args: ['--host', '0.0.0.0'] });
  assert.equal(await dev.exit, 2);
  await assert.rejects(dev.ready);
  assert.match(dev.stderr(), /^hugemap dev: HUGEMAP_ERR_CONFIG: AUTH_MODE=open is refused on --host 0\.0\.0\.0: .*\n$/);
  assert.equal(existsSync(dataDir), false, 'no server was started (nothing written to the data folder)');
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
  const dev = startDev(dataDir, { env: devEnv({ METRICS_PORT: String(apiMetrics), WORKER_METRICS_PORT: String(workerMetrics), AUTH_MODE: 'open' }) });
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
  const dev = startDev(dataDir, {
    env: devEnv({
      HUGEMAP_TOOLS_DIR: emptyTools,
      PATH: [dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
  });
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
