/**
 * The image service for tests: the API (startApiServer) and a worker on the
 * real test servers, each test file with its own database, bucket, queue and
 * scaled-image cache folder; plus upload and wait helpers.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Config } from '../../shared/config.js';
import { StatusStore } from '../../shared/status-store.js';
import { S3Store } from '../../shared/storage/s3-store.js';
import { startApiServer, type ApiServer } from '../../services/api/server.js';
import { startWorker, type RunningWorker } from '../../workers/start-worker.js';
import type { TestServers } from './servers.js';
import { testConfig, waitFor } from './test-config.js';

export interface ImageService {
  url: string;
  config: Config;
  s3: S3Store;
  store: StatusStore;
  cacheDir: string;
  close(): Promise<void>;
}

export async function startImageService(servers: TestServers, name: string, overrides: Record<string, string> = {}, opts: { worker?: boolean } = {}): Promise<ImageService> {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-scaled-'));
  const config = await testConfig(servers, name, { SCALE_CACHE_DIR: cacheDir, LOG_LEVEL: 'silent', ...overrides });
  const api: ApiServer = await startApiServer(config);
  const worker: RunningWorker | null = opts.worker === false ? null : await startWorker(config);
  const s3 = new S3Store(config.s3);
  const store = await StatusStore.connect(config.mongoUrl);
  return {
    url: api.url,
    config,
    s3,
    store,
    cacheDir,
    async close() {
      await worker?.close();
      await api.close();
      await store.close();
    },
  };
}

export async function upload(base: string, body: Buffer, filename = 'image.jpg', fields: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('file', new Blob([new Uint8Array(body)]), filename);
  const res = await fetch(`${base}/api/v1/images`, { method: 'POST', body: form });
  return { status: res.status, json: await res.json() };
}

export async function waitUntilDone(base: string, id: string): Promise<any> {
  const doc = await waitFor(`image ${id} to finish`, async () => {
    const d = await (await fetch(`${base}/api/v1/images/${id}`)).json();
    return d.status === 'done' || d.status === 'failed' ? d : undefined;
  }, 120_000, 100);
  if (doc.status !== 'done') throw new Error(`image ${id} failed: ${JSON.stringify(doc.error)}`);
  return doc;
}

/** Smooth colour ramps plus a few blocks: JPEG keeps it close, and every region looks different. */
export async function patterned(width: number, height: number, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((x / width) * 255);
      data[i + 1] = Math.round((y / height) * 255);
      data[i + 2] = ((x >> 6) + (y >> 6)) % 2 === 0 ? 40 : 210;
    }
  }
  const img = sharp(data, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? img.jpeg({ quality: 95 }).toBuffer() : img.png().toBuffer();
}

/** Mean absolute difference per channel value (0..255) of two images of equal size. */
export async function meanAbsDiff(a: Buffer, b: Buffer): Promise<number> {
  const ra = await sharp(a).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rb = await sharp(b).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (ra.info.width !== rb.info.width || ra.info.height !== rb.info.height) {
    throw new Error(`sizes differ: ${ra.info.width}x${ra.info.height} vs ${rb.info.width}x${rb.info.height}`);
  }
  let sum = 0;
  for (let i = 0; i < ra.data.length; i++) sum += Math.abs(ra.data[i]! - rb.data[i]!);
  return sum / ra.data.length;
}
