/**
 * `hugemap dev`'s moving parts: the backing servers (started or reused), then
 * the API and N workers as child processes of this same CLI, as in
 * production (separate memory; a crash in one is seen, not shared). Their
 * output is forwarded line by line with a `[api]` / `[worker]` (or
 * `[worker-2]`...) prefix.
 */
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { DevStartError } from '../../shared/errors.js';
import { loadOrCreateCredentials } from './dev-credentials.js';
import { startLocalServers, type LocalServers } from './local-servers.js';
import { spawnManaged, type ManagedProcess } from './managed-process.js';
import { jemallocPreload, workerProcessEnv } from '../../workers/process-settings.js';

export interface DevStackOptions {
  /** Persistent folder: server data, MinIO credentials, server logs, worker scratch space. */
  dataDir: string;
  /** The API's port; 0 picks a free one. */
  port: number;
  host: string;
  /** The environment handed to the servers and children (URLs set here are reused). */
  env: NodeJS.ProcessEnv;
  /** How to run this CLI again: node, its flags (e.g. `--import tsx`) and the script. */
  cli: { execPath: string; args: string[] };
  /** Where children's output goes, prefixed. */
  log: Writable;
  /** How long api and worker get to drain on stop before SIGKILL. */
  stopGraceMs: number;
  /** How long the API may take to start listening. Default 120 s. */
  readyTimeoutMs?: number;
  /** Worker processes to start. Default 1. */
  workers?: number;
  /** AUTH_MODE for the API and workers (dev-auth.ts decides it). Default: as in `env`. */
  authMode?: 'open' | 'required';
}

export interface DevStack {
  /** The API's base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  servers: LocalServers;
  /** Resolves with the child's name if the api or a worker ends without stop() being called. */
  crashed: Promise<string>;
  /** api and workers first (graceful), then the servers this stack started. */
  stop(): Promise<void>;
}

export async function startDevStack(opts: DevStackOptions): Promise<DevStack> {
  const { env, dataDir } = opts;
  const servers = await startLocalServers({
    dataDir,
    logDir: join(dataDir, 'logs'),
    env,
    s3Credentials: env.S3_ENDPOINT ? undefined : loadOrCreateCredentials(dataDir),
    persistRedis: true,
  });
  const childEnv: NodeJS.ProcessEnv = {
    ...env,
    REDIS_URL: servers.redisUrl,
    MONGO_URL: env.MONGO_URL || databaseUrl(servers.mongoUrl, 'hugemap'),
    S3_ENDPOINT: servers.s3.endpoint,
    S3_REGION: servers.s3.region,
    S3_ACCESS_KEY_ID: servers.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    PORT: String(opts.port),
    HOST: opts.host,
    ...(opts.authMode ? { AUTH_MODE: opts.authMode } : {}),
    WORK_DIR: env.WORK_DIR || join(dataDir, 'work'),
    // jemalloc lets sharp use every core without glibc's heap fragmenting (docs/memory.md:
    // 236 MP in 7.8-8.7 s instead of 13.1-13.9 s); it must be preloaded before the child starts.
    ...jemallocPreload(env),
    // The SDK's Node 20 end-of-support notice, printed by both children, would bury the ready line.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
  };

  let stopping = false;
  const children: ManagedProcess[] = [];
  const stopChildren = () => Promise.all(children.map((c) => c.stop(opts.stopGraceMs)));
  let apiUrl: Promise<string> | undefined;
  try {
    const parts = [
      // Workers also get their allocator and heap settings (workers/process-settings.ts), and a metrics port each.
      ...workerNames(opts.workers ?? 1).map((name, i) => ({ name, command: 'worker', env: workerProcessEnv(workerMetricsEnv(childEnv, i)) })),
      { name: 'api', command: 'api', env: childEnv },
    ];
    for (const { name, command, env: partEnv } of parts) {
      const child = spawnManaged(name, opts.cli.execPath, [...opts.cli.args, command], { env: partEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      const stdout = forwardLines(child, opts.log);
      if (command === 'api') apiUrl = waitForListening(child, stdout, opts.readyTimeoutMs ?? 120_000);
    }
    const url = await apiUrl!;
    const crashed = Promise.race(children.map((c) => c.exited.then(() => c.name))).then((name) => (stopping ? new Promise<string>(() => {}) : name));
    return {
      url,
      servers,
      crashed,
      async stop() {
        stopping = true;
        await stopChildren();
        await servers.stop();
      },
    };
  } catch (err) {
    stopping = true;
    await stopChildren();
    await servers.stop();
    throw err;
  }
}

/** One worker is `worker`, as before; several are `worker-1`... so their log lines can be told apart. */
function workerNames(count: number): string[] {
  return count === 1 ? ['worker'] : Array.from({ length: count }, (_, i) => `worker-${i + 1}`);
}

/**
 * Worker i of this stack listens for metrics on WORKER_METRICS_PORT + i, so several workers on one
 * machine do not collide (0, "pick a free port", stays 0). Unset stays unset: no listener.
 */
export function workerMetricsEnv(env: NodeJS.ProcessEnv, index: number): NodeJS.ProcessEnv {
  const base = Number(env.WORKER_METRICS_PORT);
  if (!env.WORKER_METRICS_PORT || !Number.isInteger(base) || base === 0) return env;
  return { ...env, WORKER_METRICS_PORT: String(base + index) };
}

/** `mongodb://h:1/` -> `mongodb://h:1/hugemap`. */
function databaseUrl(mongoUrl: string, dbName: string): string {
  const url = new URL(mongoUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
}

/** Prefixes each line of the child's stdout and stderr onto `log`; returns its stdout lines for listeners. */
function forwardLines(child: ManagedProcess, log: Writable): NodeJS.EventEmitter {
  const prefix = `[${child.name}] `;
  const stdout = createInterface({ input: child.child.stdout! });
  const stderr = createInterface({ input: child.child.stderr! });
  stdout.on('line', (line) => log.write(prefix + line + '\n'));
  stderr.on('line', (line) => log.write(prefix + line + '\n'));
  return stdout;
}

/** The API announces `hugemap api listening on URL` on stdout once it accepts connections. */
function waitForListening(api: ManagedProcess, stdout: NodeJS.EventEmitter, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new DevStartError(`the API did not start listening within ${timeoutMs} ms`)), timeoutMs);
    stdout.on('line', (line: string) => {
      const url = /listening on (http:\/\/\S+)/.exec(line)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    void api.exited.then(({ code, signal, error }) => {
      clearTimeout(timer);
      reject(new DevStartError(`the API exited while starting (${error?.message ?? `code ${code}, signal ${signal}`}); its output is above`));
    });
  });
}
