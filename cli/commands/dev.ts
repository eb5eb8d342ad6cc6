/**
 * `hugemap dev`: the whole stack on one machine without Docker. Starts (or
 * reuses, when their URLs are set) redis-server, FerretDB and MinIO, then the
 * API and one worker as child processes; prints
 * `hugemap dev: ready at URL` on stdout once uploads can be made.
 * SIGINT/SIGTERM stop everything in order and exit 0; an api or worker that
 * dies on its own stops the rest and exits 1.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../../shared/config.js';
import { toHugemapError } from '../../shared/errors.js';
import type { DevStack } from '../../services/dev/dev-stack.js';

/** Longer than the children's own drain deadline, so they finish it before being killed. */
const EXTRA_STOP_GRACE_MS = 5_000;

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
function metricsLines(config: Config, host: string): string {
  const at = (port: number) => `http://${host}:${port}`;
  let lines = '';
  if (config.metrics.apiPort) lines += `  metrics: ${at(config.metrics.apiPort)}/metrics (api)\n`;
  if (config.metrics.workerPort) lines += `  metrics: ${at(config.metrics.workerPort)}/metrics, /healthz (worker)\n`;
  return lines;
}

export function devCommand(): Command {
  return new Command('dev')
    .description('the whole stack on one machine without Docker: redis-server, FerretDB, MinIO (or the servers in REDIS_URL / MONGO_URL / S3_ENDPOINT), the API and a worker')
    .option('--port <port>', 'API port (default: $PORT or 8080; 0 picks a free one)', portNumber)
    .option('--host <host>', 'API listen address (default: $HOST or 127.0.0.1)')
    .option('--data-dir <dir>', 'where images, queue and server logs are kept across restarts', '.hugemap-dev')
    .action(async (opts: { port?: number; host?: string; dataDir: string }) => {
      let config: Config;
      try {
        config = loadConfig();
      } catch (err) {
        const e = toHugemapError(err);
        fail(`${e.code}: ${e.message}`, 2);
      }
      const dataDir = resolve(opts.dataDir);

      // Until the stack is up, a signal just ends us; the children die with us (parent-death signal).
      const abortStart = (signal: NodeJS.Signals) => fail(`${signal} while starting, stopped`, 130);
      process.on('SIGINT', abortStart);
      process.on('SIGTERM', abortStart);

      let stack: DevStack;
      try {
        // Loaded here, not at the top: `hugemap tile` must not pay for the server libraries.
        const { startDevStack } = await import('../../services/dev/dev-stack.js');
        stack = await startDevStack({
          dataDir,
          port: opts.port ?? config.port,
          // Loopback unless asked: a dev stack has no business on the network.
          host: opts.host ?? (process.env.HOST || '127.0.0.1'),
          env: process.env,
          cli: { execPath: process.execPath, args: [...process.execArgv, process.argv[1]!] },
          log: process.stderr,
          stopGraceMs: config.shutdownTimeoutMs + EXTRA_STOP_GRACE_MS,
        });
      } catch (err) {
        const e = toHugemapError(err);
        fail(`${e.code}: ${e.message}`);
      }
      process.off('SIGINT', abortStart);
      process.off('SIGTERM', abortStart);

      process.stdout.write(
        `hugemap dev: ready at ${stack.url}\n` +
          `  upload:  curl -F file=@photo.jpg ${stack.url}/api/v1/images\n` +
          `  status:  curl ${stack.url}/api/v1/images/<id>\n` +
          metricsLines(config, opts.host ?? (process.env.HOST || '127.0.0.1')) +
          `  data and server logs in ${dataDir}; Ctrl-C stops everything\n`,
      );

      let stopping = false;
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
        // A second Ctrl-C does not wait for the drain; the children die with us.
        if (stopping) fail(`second ${signal}, exiting now`, 130);
        void stop(`${signal} received`, 0);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      void stack.crashed.then((name) => stop(`the ${name} exited unexpectedly`, 1));
    });
}
