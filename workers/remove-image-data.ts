/** A failed or deleted image leaves no partial pyramid behind that could look complete. */
import { removeTree } from '../shared/remove-tree.js';
import { imageKeys } from '../shared/image-status.js';
import { jobPaths, type WorkerDeps } from './job-context.js';

/** Its tiles, a split's intermediate files, its local folders (the parts' too), and unless kept, its original. */
export async function removeImageData(imageId: string, deps: WorkerDeps, opts: { keepOriginal?: boolean; localDirs?: string[] } = {}): Promise<void> {
  await deps.s3.deletePrefix(imageKeys.prefix(imageId));
  await deps.s3.deletePrefix(imageKeys.work(imageId));
  if (!opts.keepOriginal) await deps.s3.deletePrefix(imageKeys.original(imageId));
  for (const name of [imageId, ...(opts.localDirs ?? [])]) await removeTree(jobPaths(deps.config.workDir, name).dir);
}
