/**
 * The dev MinIO's root user, generated once per data folder and kept there:
 * MinIO encrypts its own config with these, so data kept across restarts
 * needs the same ones every time, and no secret is written into the code.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const FILE_NAME = 's3-credentials.json';

export function loadOrCreateCredentials(dataDir: string): S3Credentials {
  const path = join(dataDir, FILE_NAME);
  if (existsSync(path)) {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<S3Credentials>;
    if (typeof stored.accessKeyId !== 'string' || typeof stored.secretAccessKey !== 'string') {
      throw new ConfigError(`${path} lacks accessKeyId/secretAccessKey; delete the data folder to start afresh`);
    }
    return { accessKeyId: stored.accessKeyId, secretAccessKey: stored.secretAccessKey };
  }
  const created = { accessKeyId: 'hugemap-dev', secretAccessKey: randomBytes(20).toString('hex') };
  mkdirSync(dataDir, { recursive: true });
  // 'wx': two dev processes racing on a fresh folder must not overwrite each other's key.
  writeFileSync(path, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return created;
}
