/**
 * The output folder's life cycle. Everything is written into a staging folder
 * inside outDir (same file system, so renames are atomic) and moved into place
 * at the end with `image.dzi` LAST: a folder holding `image.dzi` is complete,
 * whatever crashed when. A previous result is invalidated (its descriptor
 * removed) before work starts and replaced on success; on failure nothing of
 * ours is left.
 */
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { removeTree } from '../remove-tree.js';

export const DESCRIPTOR = 'image.dzi';
export const TILES_DIR = 'image_files';
export const THUMBNAIL = 'thumbnail.jpg';
export const MANIFEST = 'manifest.json';
const STAGING_PREFIX = '.hugemap-partial-';

/** Order matters: the descriptor is published last and removed first. */
const PUBLISHED = [TILES_DIR, THUMBNAIL, MANIFEST, DESCRIPTOR] as const;

export interface StagingDir {
  path: string;
  publish(): Promise<void>;
  discard(): Promise<void>;
}

export async function openStaging(outDir: string): Promise<StagingDir> {
  await mkdir(outDir, { recursive: true });
  await removePublished(outDir);
  // Leftovers of a crashed run into the same folder (the worker re-tiles after a crash).
  for (const name of await readdir(outDir)) {
    if (name.startsWith(STAGING_PREFIX)) await removeTree(join(outDir, name));
  }
  const path = join(outDir, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(path);
  return {
    path,
    async publish() {
      for (const name of PUBLISHED) await rename(join(path, name), join(outDir, name));
      await removeTree(path);
    },
    async discard() {
      // Retries: after an abort, the libvips call still running may add files while we delete
      // (tileImage calls discard again once that call has settled).
      await removeTree(path, { retries: 10, retryDelayMs: 50 });
      await removePublished(outDir);
    },
  };
}

async function removePublished(outDir: string): Promise<void> {
  for (const name of [...PUBLISHED].reverse()) await removeTree(join(outDir, name));
}
