/**
 * Stage 2b, after the probe: the preview (shared/tiling/preview.ts), one JPEG of
 * the whole image at the first-view level's size, stored in S3 while the cut runs
 * (or before it, for the largest images) so that a viewer can show the image
 * within seconds.
 * WORKER_PREVIEW=false turns it off, for batch work nobody watches. Inputs that
 * get no preview go straight on; a preview that fails is logged and skipped,
 * since the tile stage reads the same file and reports a damaged one properly.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { imageKeys } from '../../shared/image-status.js';
import { IMMUTABLE_CACHE_CONTROL } from '../../shared/storage/tile-row-uploader.js';
import { firstLine, type ImageProbe } from '../../shared/tiling/probe.js';
import { writePreview } from '../../shared/tiling/preview.js';
import type { JobContext } from '../job-context.js';

/**
 * The preview decodes the whole JPEG once more (at 1/8 scale, on one core). Beside the cut it uses
 * a core the cut's start leaves partly idle, so the job ends sooner; but at 944 MP the decode and
 * its mapped input on top of the cut took the worker over 300 MB. So beside the cut up to this
 * size, before it above (measurements: bench/results/history.md).
 */
export const PREVIEW_BESIDE_CUT_MAX_PIXELS = 300e6;

/** Whether this image's preview is made while it is cut (else before the cut). */
export function previewBesideCut(probe: Pick<ImageProbe, 'width' | 'height'>): boolean {
  return probe.width * probe.height <= PREVIEW_BESIDE_CUT_MAX_PIXELS;
}

/** Never rejects: an image without a preview is still tiled, the failure logged. */
export async function storePreview(ctx: JobContext, probe: ImageProbe): Promise<void> {
  if (ctx.doc.preview || !ctx.config.workerPreview) return; // stored by an earlier attempt, or turned off
  const file = path.join(ctx.dir, 'preview.jpg');
  try {
    const made = await writePreview(ctx.originalPath, probe, file, { maxPixels: ctx.config.maxPixels });
    if (!made) return;
    // Through the SDK, not the lean tile PUT: one object, and a noisy one can pass the lean PUT's 5 MiB cap.
    await ctx.s3.putBody(imageKeys.preview(ctx.id), await readFile(file), { contentType: 'image/jpeg', cacheControl: IMMUTABLE_CACHE_CONTROL });
    await ctx.report.now({ preview: { width: made.width, height: made.height } });
  } catch (err) {
    ctx.logger.warn({ imageId: ctx.id, err: firstLine(err) }, 'no preview for this image');
  } finally {
    await rm(file, { force: true });
  }
}
