/** A worker as a child process (`hugemap worker`), for tests that kill one and let another take over. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../shared/config.js';

const root = path.resolve(import.meta.dirname, '..', '..');

/** The environment of a child worker on the test file's servers, its S3 through `s3Endpoint` (a fault proxy), a short lock. */
export function childWorkerEnv(config: Config, s3Endpoint: string, workDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDIS_URL: config.redisUrl,
    MONGO_URL: config.mongoUrl,
    S3_ENDPOINT: s3Endpoint,
    S3_REGION: config.s3.region,
    S3_BUCKET: config.s3.bucket,
    S3_ACCESS_KEY_ID: config.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
    QUEUE_PREFIX: config.queuePrefix,
    WORK_DIR: workDir,
    WORKER_LOCK_MS: '2000',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Starts `hugemap worker`; its stderr lines go to `log` when given, else are drained. */
export function spawnWorker(env: NodeJS.ProcessEnv, log?: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'worker'], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (log) child.stderr?.setEncoding('utf8').on('data', (chunk: string) => log.push(...chunk.split('\n').filter(Boolean)));
  else child.stderr?.resume();
  return child;
}
