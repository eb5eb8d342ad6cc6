/**
 * Which output folders a run creates, so that a failed run can remove them and
 * leave the disk as it found it. A folder that existed before the run is never
 * removed (tileImage itself already takes its own files out of it on failure).
 */
import { lstatSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { removeTree } from '../shared/remove-tree.js';

/** The outermost of `path` and its ancestors that does not exist yet: what `mkdir -p path` creates. undefined if `path` exists. */
export function firstMissingFolder(path: string): string | undefined {
  let missing: string | undefined;
  for (let p = resolve(path); !present(p); p = dirname(p)) {
    missing = p;
    if (dirname(p) === p) break;
  }
  return missing;
}

/** Removes a folder this run created, with retries: libvips may still be closing files in it. */
export async function removeCreatedFolder(path: string | undefined): Promise<void> {
  if (path === undefined) return;
  await removeTree(path, { retries: 10, retryDelayMs: 50 }).catch(() => undefined);
}

/** lstat, not stat: a dangling symlink is there (and is not ours to remove). */
function present(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}
