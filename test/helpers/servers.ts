/**
 * Real Redis, MongoDB-protocol (FerretDB) and S3 (MinIO) servers on ephemeral
 * loopback ports, for tests. We never mock these: queue semantics, driver
 * behaviour and SigV4 signing are exactly what the tests must exercise.
 *
 * The servers are started by services/dev/local-servers.ts (which `hugemap dev`
 * uses too); this file adds a throw-away data folder per run and test helpers.
 * When REDIS_URL / MONGO_URL / S3_ENDPOINT are set (test/run.ts sets them),
 * those servers are used and nothing is started for them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after } from 'node:test';
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { startLocalServers, type S3Info } from '../../services/dev/local-servers.js';

export type { S3Info };

export interface TestServers {
  redisUrl: string;
  /** No database in the path: tests pick their own with `uniqueName()`. */
  mongoUrl: string;
  s3: S3Info;
  /** Stops only the servers this call started; env-provided ones are left alone. */
  stop(): Promise<void>;
}

const LOG_DIR = join(tmpdir(), 'hugemap-test-logs');
const DATA_DIR_PREFIX = 'hugemap-servers-';

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
  try {
    const servers = await startLocalServers({ dataDir, logDir: join(LOG_DIR, basename(dataDir)), env });
    return {
      redisUrl: servers.redisUrl,
      mongoUrl: servers.mongoUrl,
      s3: servers.s3,
      async stop() {
        await servers.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
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
