/** Shared by the split-job tests: images whose every 2x2 mean and JPEG block differs, and pyramid comparisons against S3. */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import sharp, { type Sharp } from 'sharp';
import type { S3Store } from '../../shared/storage/s3-store.js';

/** Noise over a horizontal ramp; with 4 channels, stripes of transparent and half-transparent pixels. */
export function noisy(width: number, height: number, channels: 3 | 4): Sharp {
  const data = Buffer.alloc(width * height * channels);
  let seed = 12345;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const x = Math.floor(i / channels) % width;
    data[i] = (x + (seed >> 16)) & 255;
  }
  if (channels === 4) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if ((x >> 4) % 3 === 0) data[(y * width + x) * 4 + 3] = (x >> 4) % 2 ? 0 : 128;
  }
  return sharp(data, { raw: { width, height, channels } });
}

export async function listKeys(s3: S3Store, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s3.listKeys(prefix)) keys.push(o.key);
  return keys.sort();
}

/** An object's bytes, read from its stream (no temporary file). */
export async function objectBytes(s3: S3Store, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await s3.getStream(key)).stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every tile of the local pyramid in `dir` (a `hugemap tile` output) is in S3 under images/{id}/ with the same bytes, and nothing else is. */
export async function assertPyramidInS3(s3: S3Store, id: string, dir: string): Promise<number> {
  const fetchObject = (key: string) => objectBytes(s3, key);
  const local: string[] = [];
  for (const level of await readdir(join(dir, 'image_files'))) {
    for (const f of await readdir(join(dir, 'image_files', level))) local.push(`image_files/${level}/${f}`);
  }
  const prefix = `images/${id}/`;
  const remote = (await listKeys(s3, `${prefix}image_files/`)).map((k) => k.slice(prefix.length));
  assert.deepEqual(remote, local.sort(), 'the same tile names');
  for (const rel of local) {
    const [a, b] = await Promise.all([readFile(join(dir, rel)), fetchObject(prefix + rel)]);
    assert.ok(a.equals(b), `tile ${rel} differs from the unsplit cut`);
  }
  const thumbnail = await fetchObject(`${prefix}thumbnail.jpg`);
  assert.ok(thumbnail.equals(await readFile(join(dir, 'thumbnail.jpg'))), 'thumbnail differs from the unsplit cut');
  assert.equal((await fetchObject(`${prefix}image.dzi`)).toString(), await readFile(join(dir, 'image.dzi'), 'utf8'));
  return local.length;
}

/**
 * Every object under `prefix` carries the object tags `tags` (`visibility=public`: what S3's bucket
 * policy lets anyone read, behind a CDN; s3-setup.ts); returns how many objects were checked.
 */
export async function assertObjectsTagged(s3: S3Store, prefix: string, tags: string): Promise<number> {
  const keys = await listKeys(s3, prefix);
  const untagged: string[] = [];
  for (const key of keys) {
    const { TagSet } = await s3.client.send(new GetObjectTaggingCommand({ Bucket: s3.bucket, Key: key }));
    if ((TagSet ?? []).map((t) => `${t.Key}=${t.Value}`).join('&') !== tags) untagged.push(key);
  }
  assert.deepEqual(untagged.slice(0, 5), [], `${untagged.length} of ${keys.length} objects under ${prefix} are not tagged ${tags}`);
  return keys.length;
}
