/**
 * What a part of a split image (a band, the assembling job) runs with: its own local folder, so
 * parts of one image on one machine never share files, and status writes that add its tiles to
 * the image's progress.
 */
import type { ImageDoc, SplitState } from '../shared/image-status.js';
import { HugemapError } from '../shared/errors.js';
import type { TileJobPart } from '../shared/queue.js';
import { jobPaths, overallProgress, ThrottledReporter, type JobContext, type WorkerDeps } from './job-context.js';
import { ImageDeletedError } from './process-image-job.js';

/** `b{index}` or `assemble`: the part's key in the split's tiles, bytes and checkpoints. */
export type PartKey = `b${number}` | 'assemble';

/** A part's key, or a column's of a band cut in columns (`b{index}c{column}`, process-band-job.ts): what tiles, bytes and checkpoints are kept under. */
export type ProgressKey = PartKey | `b${number}c${number}`;

export function partKey(part: TileJobPart): PartKey {
  return part.kind === 'band' ? `b${part.index}` : 'assemble';
}

/** The part's local folder under WORK_DIR (jobPaths): `{imageId}.b{index}`, `{imageId}.assemble`. */
export function partDirName(imageId: string, part: PartKey): string {
  return `${imageId}.${part}`;
}

export function partContext(deps: WorkerDeps, doc: ImageDoc, part: PartKey): JobContext & { split: SplitState } {
  const split = doc.split;
  if (!split) throw new HugemapError('HUGEMAP_ERR_INTERNAL', `image ${doc._id} has a ${part} job but no split`);
  const id = doc._id;
  return {
    ...deps,
    ...jobPaths(deps.config.workDir, partDirName(id, part)),
    id,
    doc,
    split,
    report: new ThrottledReporter(async (set) => {
      const updated = await deps.store.update(id, set);
      if (!updated) throw new ImageDeletedError(id);
      if (updated.split && Object.keys(set).some((k) => k.startsWith('split.tiles.'))) await addUpProgress(deps, updated);
    }),
  };
}

/**
 * The image's tiles in S3 are the sum of its parts'; several workers write at once, so the sum only
 * ever moves up ($max): a slower writer with an older sum cannot set progress back.
 */
async function addUpProgress(deps: WorkerDeps, doc: ImageDoc): Promise<void> {
  const done = Object.values(doc.split?.tiles ?? {}).reduce((a, b) => a + b, 0);
  const total = doc.tiles.total || 1;
  await deps.store.update(doc._id, {}, { $max: { 'tiles.done': done, progress: overallProgress('tile', done / total) } });
}
