/**
 * Real Redis, MongoDB-protocol (FerretDB) and S3 (MinIO) servers on free
 * loopback ports: the backing services of `hugemap dev`, and of the tests.
 * A server whose URL is already set (REDIS_URL, MONGO_URL, S3_ENDPOINT with
 * its keys) is reused and nothing is started for it, unless `s3Server` names
 * the S3 server to start: the benchmark compares MinIO with versitygw,
 * Versity's S3 gateway on plain files, a lighter server.
 *
 * Binaries: redis-server from the Debian package (PATH); ferretdb, minio and
 * versitygw from `tools/build-test-servers.sh`, in ${HUGEMAP_TOOLS_DIR:-~/.cache/hugemap-tools}/bin,
 * else PATH. All are looked up before anything starts, so a missing one
 * fails at once with one line that says how to get it.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ConfigError, MissingBinaryError } from '../../shared/errors.js';
import { spawnManaged, type ManagedProcess } from './managed-process.js';
import { freePort, pingMongo, pingRedis, pingS3, type S3Info } from './probes.js';

export type { S3Info };

/** The S3 servers this module can start. */
export const S3_SERVER_KINDS = ['minio', 'versitygw'] as const;
export type S3ServerKind = (typeof S3_SERVER_KINDS)[number];

export function isS3ServerKind(name: string): name is S3ServerKind {
  return (S3_SERVER_KINDS as readonly string[]).includes(name);
}

export interface LocalServersOptions {
  /** Each server started keeps its data in a subfolder: redis/, ferretdb/, minio/ (or versitygw/). */
  dataDir: string;
  /** Each server started appends its output to `<logDir>/<name>.log`. */
  logDir: string;
  /** Read for REDIS_URL, MONGO_URL, S3_* (servers to reuse), HUGEMAP_TOOLS_DIR, PATH; passed to the servers. */
  env: NodeJS.ProcessEnv;
  /** Start this S3 server, even where S3_ENDPOINT names one. Default: reuse S3_ENDPOINT, else start MinIO. */
  s3Server?: S3ServerKind;
  /** The S3 server's root user. Default: random for this run; data kept across runs needs the same one every time. */
  s3Credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Keep Redis's data (the queue) across restarts in an append-only file. Default: in memory only. */
  persistRedis?: boolean;
  /** How long a server may take to answer its probe. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface LocalServers {
  redisUrl: string;
  /** As given in MONGO_URL, or `mongodb://127.0.0.1:PORT/` (no database) for a server started here. */
  mongoUrl: string;
  s3: S3Info;
  /** Names of the servers this call started (`redis`, `ferretdb`, `minio` or `versitygw`). */
  started: string[];
  /** Process ids of the servers this call started. */
  pids: number[];
  /** Stops only the servers this call started; reused ones are left alone. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;
export const BUILD_TOOLS_COMMAND = 'bash tools/build-test-servers.sh';

export async function startLocalServers(opts: LocalServersOptions): Promise<LocalServers> {
  const { env } = opts;
  const reusedS3 = env.S3_ENDPOINT && !opts.s3Server ? s3FromEnv(env) : undefined;
  const s3Server = opts.s3Server ?? 'minio';
  const binaries = locateBinaries(env, [
    ...(env.REDIS_URL ? [] : ['redis-server' as const]),
    ...(env.MONGO_URL ? [] : ['ferretdb' as const]),
    ...(reusedS3 ? [] : [s3Server]),
  ]);
  const running: ManagedProcess[] = [];
  const stop = async () => {
    await Promise.all(running.map((s) => s.stop(STOP_GRACE_MS)));
  };
  const launch = (name: string, command: string, args: string[], extraEnv: Record<string, string> = {}) => {
    const server = launchServer(name, command, args, { ...opts, env: { ...env, ...extraEnv } });
    running.push(server.process);
    return server;
  };
  const readyMs = opts.readyTimeoutMs ?? 60_000;

  const redis = async (): Promise<string> => {
    const port = await freePort();
    const dir = join(opts.dataDir, 'redis');
    mkdirSync(dir, { recursive: true });
    const persistence = opts.persistRedis ? ['--save', '', '--appendonly', 'yes'] : ['--save', '', '--appendonly', 'no'];
    const server = launch('redis', binaries['redis-server']!, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence]);
    const url = `redis://127.0.0.1:${port}`;
    await server.waitUntilReady(() => pingRedis(url), readyMs);
    return url;
  };
  const ferretdb = async (): Promise<string> => {
    const port = await freePort();
    const server = launch('ferretdb', binaries.ferretdb!, ['-listen-addr', `127.0.0.1:${port}`, '-sqlite-dir', join(opts.dataDir, 'ferretdb')]);
    const url = `mongodb://127.0.0.1:${port}/`;
    await server.waitUntilReady(() => pingMongo(url), readyMs);
    return url;
  };
  const newS3Info = (port: number): S3Info => {
    const credentials = opts.s3Credentials ?? { accessKeyId: 'hugemap-local', secretAccessKey: randomBytes(16).toString('hex') };
    return { endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', ...credentials };
  };
  const minio = async (): Promise<S3Info> => {
    const [port, consolePort] = [await freePort(), await freePort()];
    const s3 = newS3Info(port);
    const server = launch(
      'minio',
      binaries.minio!,
      ['server', join(opts.dataDir, 'minio'), '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`],
      { MINIO_ROOT_USER: s3.accessKeyId, MINIO_ROOT_PASSWORD: s3.secretAccessKey, MINIO_REGION: s3.region, MINIO_UPDATE: 'off' },
    );
    await server.waitUntilReady(() => pingS3(s3), readyMs);
    return s3;
  };
  const versitygw = async (): Promise<S3Info> => {
    const port = await freePort();
    const s3 = newS3Info(port);
    // Buckets are folders of this one and objects files in them; metadata (content type,
    // cache control, ETag) goes into extended attributes, which tmpfs and ext4 both keep.
    const dir = join(opts.dataDir, 'versitygw');
    mkdirSync(dir, { recursive: true });
    const server = launch('versitygw', binaries.versitygw!, ['--port', `127.0.0.1:${port}`, '--region', s3.region, '--quiet', 'posix', dir], {
      ROOT_ACCESS_KEY: s3.accessKeyId,
      ROOT_SECRET_KEY: s3.secretAccessKey,
    });
    await server.waitUntilReady(() => pingS3(s3), readyMs);
    return s3;
  };

  try {
    const [redisUrl, mongoUrl, s3] = await Promise.all([env.REDIS_URL || redis(), env.MONGO_URL || ferretdb(), reusedS3 ?? (s3Server === 'versitygw' ? versitygw() : minio())]);
    return { redisUrl, mongoUrl, s3, started: running.map((s) => s.name), pids: running.map((s) => s.child.pid ?? 0), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function s3FromEnv(env: NodeJS.ProcessEnv): S3Info {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    throw new ConfigError('S3_ENDPOINT is set: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY too');
  }
  return { endpoint: S3_ENDPOINT, region: env.S3_REGION || 'us-east-1', accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY };
}

/** rclone is no server: the benchmark's shell-script baseline uploads with it (bench/shell-script.ts). */
type BinaryName = 'redis-server' | 'ferretdb' | S3ServerKind | 'rclone';

/** Finds every needed binary, or throws one MissingBinaryError naming all that are missing. */
export function locateBinaries(env: NodeJS.ProcessEnv, names: BinaryName[]): Partial<Record<BinaryName, string>> {
  const toolsBin = join(env.HUGEMAP_TOOLS_DIR || join(homedir(), '.cache', 'hugemap-tools'), 'bin');
  const pathDirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  const found: Partial<Record<BinaryName, string>> = {};
  const missing: BinaryName[] = [];
  for (const name of names) {
    const dirs = name === 'redis-server' ? pathDirs : [toolsBin, ...pathDirs];
    const path = dirs.map((d) => join(d, name)).find(isExecutable);
    if (path) found[name] = path;
    else missing.push(name);
  }
  if (missing.length > 0) {
    const hints = [
      ...(missing.some((n) => n !== 'redis-server') ? [`build ${missing.filter((n) => n !== 'redis-server').join(' and ')} with: ${BUILD_TOOLS_COMMAND}`] : []),
      ...(missing.includes('redis-server') ? ['install redis-server with: apt-get install redis-server'] : []),
    ];
    throw new MissingBinaryError(`${missing.join(', ')} not found (looked in ${toolsBin} and PATH); ${hints.join('; ')}`);
  }
  return found;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function launchServer(name: string, command: string, args: string[], opts: LocalServersOptions) {
  mkdirSync(opts.logDir, { recursive: true });
  const logPath = join(opts.logDir, `${name}.log`);
  const logFd = openSync(logPath, 'a');
  writeSync(logFd, `--- ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
  const server = spawnManaged(name, command, args, { env: opts.env, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd); // the child holds its own copy
  // A server must not keep its parent alive: it is stopped explicitly, or dies with it.
  server.child.unref();
  const failure = (why: string) =>
    new Error(`${name} (${command}) did not start: ${why}\n--- last lines of ${logPath} ---\n${readTail(logPath, 20)}`);

  return {
    process: server,
    async waitUntilReady(probe: () => Promise<void>, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      let lastError: unknown;
      while (Date.now() < deadline) {
        if (server.hasExited()) {
          const { code, signal, error } = await server.exited;
          throw failure(error?.message ?? `exited early (code ${code}, signal ${signal})`);
        }
        try {
          await probe();
          return;
        } catch (err) {
          lastError = err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw failure(`not ready after ${timeoutMs} ms: ${String(lastError)}`);
    },
  };
}

function readTail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
