/**
 * Real Redis, MongoDB-protocol (FerretDB) and S3 (MinIO) servers on ephemeral
 * loopback ports, for tests. We never mock these: queue semantics, driver
 * behaviour and SigV4 signing are exactly what the tests must exercise.
 *
 * Binaries: redis-server from the Debian package; ferretdb and minio from
 * `tools/build-test-servers.sh` (in ${HUGEMAP_TOOLS_DIR:-~/.cache/hugemap-tools}/bin).
 * When REDIS_URL / MONGO_URL / S3_ENDPOINT are set (test/run.ts sets them),
 * those servers are used and nothing is started for them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { CreateBucketCommand, ListBucketsCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

export interface S3Info {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TestServers {
  redisUrl: string;
  /** No database in the path: tests pick their own with `uniqueName()`. */
  mongoUrl: string;
  s3: S3Info;
  /** Stops only the servers this call started; env-provided ones are left alone. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const LOG_DIR = join(tmpdir(), 'hugemap-test-logs');
const DATA_DIR_PREFIX = 'hugemap-servers-';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)); // util-linux, on every Debian

/** `prefix-<12 hex>`: valid as a queue, MongoDB database and S3 bucket name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`.toLowerCase();
}

/** Path-style S3 client for MinIO (it serves no virtual-host buckets on 127.0.0.1). */
export function s3ClientFor(s3: S3Info, overrides: S3ClientConfig = {}): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    ...overrides,
  });
}

/** Creates a fresh, uniquely named bucket and returns its name. */
export async function createTestBucket(s3: S3Info, prefix = 'test'): Promise<string> {
  const bucket = uniqueName(prefix);
  const client = s3ClientFor(s3);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** Same server, another database: `withDatabase('mongodb://h:1/', 'x')` -> `mongodb://h:1/x`. */
export function withDatabase(mongoUrl: string, dbName: string): string {
  const url = new URL(mongoUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
}

let shared: Promise<TestServers> | undefined;

/**
 * For test files: the env-provided servers, or servers started once per
 * process and stopped in node:test's `after()`. Call it at the top level of a
 * test file (`const servers = await useTestServers();`) or in a top-level
 * `before()`. Called inside a suite or test, `after()` binds to that scope;
 * the servers then stop when it ends and the next call starts new ones.
 */
export function useTestServers(): Promise<TestServers> {
  if (shared) return shared;
  const started = startTestServers();
  shared = started;
  after(async () => {
    if (shared === started) shared = undefined;
    await (await started).stop();
  });
  return started;
}

export async function startTestServers(env: NodeJS.ProcessEnv = process.env): Promise<TestServers> {
  removeDataOfDeadRuns();
  const dataDir = mkdtempSync(join(tmpdir(), `${DATA_DIR_PREFIX}${process.pid}-`));
  const running: ManagedServer[] = [];
  const stop = async () => {
    await Promise.all(running.map((s) => s.stop()));
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const [redisUrl, mongoUrl, s3] = await Promise.all([
      env.REDIS_URL || startRedis(dataDir, running),
      env.MONGO_URL || startFerretDb(dataDir, running),
      env.S3_ENDPOINT ? s3FromEnv(env) : startMinio(dataDir, running),
    ]);
    return { redisUrl, mongoUrl, s3, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A killed test process cannot clean up; its successors do, so MinIO data does not pile up. */
function removeDataOfDeadRuns(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^hugemap-servers-(\d+)-/.exec(name)?.[1]);
    if (pid && !isAlive(pid)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function s3FromEnv(env: NodeJS.ProcessEnv): S3Info {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = env;
  if (!S3_ENDPOINT || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
    throw new Error('S3_ENDPOINT is set: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY too');
  }
  return {
    endpoint: S3_ENDPOINT,
    region: env.S3_REGION || 'us-east-1',
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
  };
}

async function startRedis(dataDir: string, running: ManagedServer[]): Promise<string> {
  const port = await freePort();
  const dir = join(dataDir, 'redis');
  mkdirSync(dir);
  const server = spawnServer('redis', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
  ]);
  running.push(server);
  const url = `redis://127.0.0.1:${port}`;
  await server.waitUntilReady(() => pingRedis(url));
  return url;
}

async function startFerretDb(dataDir: string, running: ManagedServer[]): Promise<string> {
  const port = await freePort();
  const server = spawnServer('ferretdb', toolBinary('ferretdb'), [
    '-listen-addr', `127.0.0.1:${port}`, '-sqlite-dir', join(dataDir, 'ferretdb'),
  ]);
  running.push(server);
  const url = `mongodb://127.0.0.1:${port}/`;
  await server.waitUntilReady(() => pingMongo(url));
  return url;
}

async function startMinio(dataDir: string, running: ManagedServer[]): Promise<S3Info> {
  const [port, consolePort] = [await freePort(), await freePort()];
  const s3: S3Info = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'hugemap-test',
    secretAccessKey: randomBytes(16).toString('hex'),
  };
  const server = spawnServer(
    'minio',
    toolBinary('minio'),
    ['server', join(dataDir, 'minio'), '--quiet', '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`],
    { MINIO_ROOT_USER: s3.accessKeyId, MINIO_ROOT_PASSWORD: s3.secretAccessKey, MINIO_REGION: s3.region, MINIO_UPDATE: 'off' },
  );
  running.push(server);
  await server.waitUntilReady(() => listBuckets(s3));
  return s3;
}

function toolBinary(name: string): string {
  const dirs = [process.env.HUGEMAP_TOOLS_DIR, join(homedir(), '.cache', 'hugemap-tools')].filter((d): d is string => !!d);
  for (const dir of dirs) {
    const path = join(dir, 'bin', name);
    if (existsSync(path)) return path;
  }
  // Fall back to PATH; spawn's ENOENT then surfaces through waitUntilReady.
  return name;
}

/** Asks the kernel for a free port. Tiny race until the server binds it; acceptable on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function pingRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {}); // connection refusals are expected while it boots
  try {
    await redis.connect();
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${pong}`);
  } finally {
    redis.disconnect();
  }
}

async function pingMongo(url: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 });
  try {
    const res = await client.db('admin').command({ ping: 1 });
    if (res.ok !== 1) throw new Error(`ping answered ${JSON.stringify(res)}`);
  } finally {
    await client.close();
  }
}

async function listBuckets(s3: S3Info): Promise<void> {
  const client = s3ClientFor(s3, { maxAttempts: 1 });
  try {
    await client.send(new ListBucketsCommand({}));
  } finally {
    client.destroy();
  }
}

interface ManagedServer {
  waitUntilReady(probe: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

function spawnServer(name: string, command: string, args: string[], extraEnv: Record<string, string> = {}): ManagedServer {
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, `${name}-${Date.now()}-${randomBytes(3).toString('hex')}.log`);
  const logFd = openSync(logPath, 'a');
  // setpriv's parent-death signal makes the server exit even when this
  // process is killed outright (a test timeout's SIGTERM, SIGKILL), where no
  // cleanup code of ours can run.
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
  const child: ChildProcess = spawn(file, argv, {
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, ...extraEnv },
  });
  closeSync(logFd); // the child holds its own copy
  // Do not keep the test process alive for the server, and never leave it
  // behind if the process exits without calling stop().
  child.unref();
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  let exited: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      exited = err;
      resolve();
    });
    child.on('exit', (code, signal) => {
      exited ??= new Error(`exited early (code ${code}, signal ${signal})`);
      resolve();
    });
  });
  const failure = (why: string) => {
    const tail = readTail(logPath, 20);
    return new Error(`${name} (${command}) did not start: ${why}\n--- last lines of ${logPath} ---\n${tail}`);
  };

  return {
    async waitUntilReady(probe) {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let lastError: unknown;
      while (Date.now() < deadline) {
        if (exited) throw failure(exited.message);
        try {
          await probe();
          return;
        } catch (err) {
          lastError = err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw failure(`not ready after ${READY_TIMEOUT_MS} ms: ${String(lastError)}`);
    },
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null || exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
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
