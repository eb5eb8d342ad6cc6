/**
 * `hugemap dev`: the whole stack on one machine without Docker. Starts (or
 * reuses, when their URLs are set) redis-server, FerretDB and MinIO, then the
 * API and N workers (--workers) as child processes; prints
 * `hugemap dev: ready at URL` on stdout once uploads can be made, then the
 * auth mode and the addresses of the web app, gallery, queue dashboard, API
 * and API reference. SIGINT/SIGTERM stop everything in order and exit 0; an
 * api or worker that dies on its own stops the rest and exits 1.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../../shared/config.js';
import { toHugemapError } from '../../shared/errors.js';
import type { DevStack } from '../../services/dev/dev-stack.js';
import { devAuthMode, type AuthMode } from '../../services/dev/dev-auth.js';
import { withExamples } from '../help-examples.js';
import { signalSequence } from '../signal-sequence.js';
import { withUsageErrors } from '../usage-errors.js';

/** Longer than the children's own drain deadline, so they finish it before being killed. */
const EXTRA_STOP_GRACE_MS = 5_000;

/** A second signal within this long is the same Ctrl-C delivered twice (signal-sequence.ts), not "stop now". */
const REPEATED_SIGNAL_MS = 1_000;

export const MAX_DEV_WORKERS = 32;

function workerCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_DEV_WORKERS) throw new InvalidArgumentError(`expected a number of workers from 1 to ${MAX_DEV_WORKERS}`);
  return n;
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

function fail(message: string, exitCode = 1): never {
  process.stderr.write(`hugemap dev: ${message}\n`);
  process.exit(exitCode);
}

/** Where the metrics listeners are, when METRICS_PORT / WORKER_METRICS_PORT are set (worker i: WORKER_METRICS_PORT + i; METRICS_HOST, when set, replaces the host). */
export function metricsLines(config: Config, host: string, workers: number): string {
  const at = (port: number) => `http://${host}:${port}`;
  let lines = '';
  if (config.metrics.apiPort) lines += `  metrics: ${at(config.metrics.apiPort)}/metrics (api)\n`;
  const first = config.metrics.workerPort;
  if (first) {
    const which = workers === 1 ? 'worker' : `worker-1; worker-i on port ${first} + i - 1, up to ${first + workers - 1}`;
    lines += `  metrics: ${at(first)}/metrics, /healthz (${which})\n`;
  }
  return lines;
}

export function devCommand(): Command {
  const command = new Command('dev')
    .description('the whole stack on one machine without Docker: redis-server, FerretDB, MinIO (or the servers in REDIS_URL / MONGO_URL / S3_ENDPOINT), the API and its web app, and workers')
    .option('--port <port>', 'API port (default: $PORT or 8080; 0 picks a free one)', portNumber)
    .option('--host <host>', 'API listen address (default: $HOST or 127.0.0.1); on any other than loopback, sign-in is required')
    .option('--data-dir <dir>', 'where images, queue and server logs are kept across restarts', '.hugemap-dev')
    .option('--workers <n>', `worker processes to start, 1-${MAX_DEV_WORKERS}`, workerCount, 1)
    .action(async (opts: { port?: number; host?: string; dataDir: string; workers: number }) => {
      let config: Config;
      try {
        config = loadConfig();
      } catch (err) {
        const e = toHugemapError(err);
        fail(`${e.code}: ${e.message}`, 2);
      }
      const dataDir = resolve(opts.dataDir);
      // Loopback unless asked: a dev stack has no business on the network.
      const host = opts.host ?? (process.env.HOST || '127.0.0.1');
      let authMode: AuthMode;
      try {
        authMode = devAuthMode(process.env.AUTH_MODE || undefined, host);
      } catch (err) {
        const e = toHugemapError(err);
        fail(`${e.code}: ${e.message}`, 2);
      }

      // Until the stack is up, a signal just ends us; the children die with us (parent-death signal).
      const abortStart = (signal: NodeJS.Signals) => fail(`${signal} while starting, stopped`, 130);
      process.on('SIGINT', abortStart);
      process.on('SIGTERM', abortStart);

      let stack: DevStack;
      try {
        // The AWS SDK's Node 20 end-of-support notice (several lines, printed as the S3 probe
        // loads it) would bury the ready output; the children get the same setting (dev-stack.ts).
        process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
        // Loaded here, not at the top: `hugemap tile` must not pay for the server libraries.
        const { startDevStack } = await import('../../services/dev/dev-stack.js');
        stack = await startDevStack({
          dataDir,
          port: opts.port ?? config.port,
          host,
          workers: opts.workers,
          authMode,
          env: process.env,
          cli: { execPath: process.execPath, args: [...process.execArgv, process.argv[1]!] },
          log: process.stderr,
          stopGraceMs: config.shutdownTimeoutMs + EXTRA_STOP_GRACE_MS,
        });
      } catch (err) {
        const e = toHugemapError(err);
        fail(`${e.code}: ${e.message}`);
      }
      let stopping = false;
      const nextSignal = signalSequence(REPEATED_SIGNAL_MS);
      const stop = async (why: string, exitCode: number) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`hugemap dev: ${why}, stopping\n`);
        try {
          await stack.stop();
        } catch (err) {
          fail(`stop failed: ${toHugemapError(err).message}`);
        }
        process.exit(exitCode);
      };
      const onSignal = (signal: NodeJS.Signals) => {
        const turn = nextSignal();
        if (turn === 'repeat') return;
        // A second Ctrl-C does not wait for the drain; the children die with us.
        if (turn === 'again' || stopping) fail(`second ${signal}, exiting now`, 130);
        void stop(`${signal} received`, 0);
      };
      // The new handlers first: with no listener left for a moment, Node restores the default
      // action and a Ctrl-C right then would kill us without stopping anything gracefully.
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      process.off('SIGINT', abortStart);
      process.off('SIGTERM', abortStart);
      // Only now: whoever waits for this output may signal us the moment it arrives.
      process.stdout.write(readyText(stack.url, authMode, opts.workers, dataDir, metricsLines(config, host, opts.workers)));
      void stack.crashed.then((name) => stop(`the ${name} exited unexpectedly`, 1));
    });
  return withExamples(withUsageErrors(command), [
    ['hugemap dev', 'everything on http://127.0.0.1:8080, open (no sign-in) because only this machine can reach it'],
    ['npm run dev', 'the same from a checkout of the repository'],
    ['hugemap dev --workers 4 --port 3000', 'four worker processes, another port'],
    ['REDIS_URL=redis://127.0.0.1:6379 hugemap dev', 'reuse a Redis that is already running (likewise MONGO_URL, S3_ENDPOINT)'],
    ['hugemap dev --host 0.0.0.0', 'reachable from the network: sign-in required (AUTH_MODE=open is refused)'],
  ]);
}

/**
 * What a user needs once the stack is up, addresses last so they stay on screen. The first
 * line is what scripts (and tests) wait for: `hugemap dev: ready at URL`.
 */
export function readyText(url: string, authMode: AuthMode, workers: number, dataDir: string, extraLines = ''): string {
  const auth =
    authMode === 'open'
      ? 'open: no sign-in, every request acts as the local admin (AUTH_MODE=open, loopback only)'
      : 'required: sign in or send an API key to upload (AUTH_MODE=required)';
  const addresses: Array<[string, string]> = [
    ['web app', '/'],
    ['gallery', '/gallery'],
    ['queue dashboard', '/admin/queues'],
    ['API', '/api/v1/images'],
    ['API reference', '/api/docs'],
  ];
  return (
    `hugemap dev: ready at ${url}\n` +
    `  upload:  curl -F file=@photo.jpg ${url}/api/v1/images\n` +
    `  status:  curl ${url}/api/v1/images/<id>\n` +
    extraLines +
    `  ${workers} worker${workers === 1 ? '' : 's'}; data and server logs in ${dataDir}; Ctrl-C stops everything\n` +
    `  auth: ${auth}\n` +
    addresses.map(([name, path]) => `  ${`${name}:`.padEnd(17)}${url}${path}\n`).join('')
  );
}
