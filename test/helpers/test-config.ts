/** A validated Config for one test file: its own database, bucket, queue prefix and scratch folder. */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../shared/config.js';

export interface ServerUrls {
  redisUrl: string;
  mongoUrl: string;
  s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
}

export async function testConfig(servers: ServerUrls, name: string, overrides: Record<string, string> = {}): Promise<Config> {
  const suffix = `${name}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const mongo = new URL(servers.mongoUrl);
  mongo.pathname = `/t-${suffix}`;
  return loadConfig({
    REDIS_URL: servers.redisUrl,
    MONGO_URL: mongo.toString(),
    S3_ENDPOINT: servers.s3.endpoint,
    S3_REGION: servers.s3.region,
    S3_ACCESS_KEY_ID: servers.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    S3_BUCKET: `t-${suffix}`.slice(0, 63),
    S3_FORCE_PATH_STYLE: 'true',
    QUEUE_PREFIX: `t-${suffix}`,
    WORK_DIR: await mkdtemp(path.join(os.tmpdir(), 'hugemap-work-')),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SHUTDOWN_TIMEOUT_MS: '5000',
    // Suites about tiling and serving act as the local admin; the access suites set AUTH_MODE=required.
    AUTH_MODE: 'open',
    ...overrides,
  });
}

/** Polls until `check` returns a value other than undefined, or fails after `timeoutMs` (bounded loop, not a timing assertion). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
