/**
 * Stage 3, for images above WORKER_SPLIT_PIXELS: instead of cutting, record the split in the status
 * document and queue its bands and assembling job (docs/split-jobs.md). The original is in S3 and
 * the preview stored: each band fetches the original (or, for a plain JPEG, only its own bytes)
 * itself, wherever it runs.
 */
import type { FlowProducer, Queue } from 'bullmq';
import type { ImageDoc, SplitState } from '../../shared/image-status.js';
import { enqueueSplitJobs, type TileJobData } from '../../shared/queue.js';
import { planBands, type BandPlan } from '../../shared/tiling/band-plan.js';
import { defaultFormat } from '../../shared/tiling/encoders.js';
import type { ImageProbe } from '../../shared/tiling/probe.js';
import { deepZoomLevels, tileCount } from '../../shared/tiling/pyramid.js';
import { jpegEncoderFor, type JpegEncoder } from '../../shared/tiling/tile-image.js';
import type { JpegSliceIndex } from '../../shared/tiling/jpeg-slice.js';
import { indexJpegSlices } from '../../shared/tiling/jpeg-slice-index.js';
import type { JobContext } from '../job-context.js';

export interface SplitQueue {
  flows: FlowProducer;
  queue: Queue<TileJobData>;
}

/**
 * The bands of this image: those an earlier attempt of its tile job split it into, whatever this
 * worker's WORKER_SPLIT_PIXELS (its bands may be queued or running, and their jobs and checkpoints
 * are named by index; a failed image queued again has lost that record: shared/requeue-image.ts);
 * else this worker's plan for it. null: cut whole.
 */
export function bandPlanFor(doc: Pick<ImageDoc, 'split'>, probe: Pick<ImageProbe, 'width' | 'height'>, splitPixels: number): BandPlan | null {
  return doc.split?.plan ?? planBands(probe.width, probe.height, splitPixels);
}

/**
 * For a JPEG the direct encoder cuts as it is, where each band's bytes start and end, found in one
 * pass over the file here so that bands fetch and decode only their own rows (jpeg-slice.ts).
 */
async function sliceIndex(ctx: JobContext, probe: ImageProbe, plan: BandPlan, jpegEncoder: JpegEncoder | null): Promise<JpegSliceIndex | null> {
  // A CMYK JPEG goes direct converted to sRGB in libvips; a band's level image reads raw pixels, so it is not sliced.
  if (jpegEncoder !== 'direct' || probe.format !== 'jpeg' || probe.needsIntermediate || probe.space === 'cmyk') return null;
  const started = Date.now();
  const index = await indexJpegSlices(ctx.originalPath, plan);
  ctx.logger.info({ imageId: ctx.id, sliced: index !== null, ms: Date.now() - started }, index ? 'JPEG bands indexed: each band reads only its rows' : 'JPEG cannot be sliced: each band decodes from the top');
  return index;
}

/**
 * `preview`: the preview being stored meanwhile (the JPEG index pass runs beside it); the bands are
 * queued once both are done, so the image cannot be done before its preview is stored.
 */
export async function splitIntoBands(ctx: JobContext, probe: ImageProbe, plan: BandPlan, split: SplitQueue, preview: Promise<void>): Promise<void> {
  const format = defaultFormat(probe.hasAlpha);
  // A retried main job keeps what its parts may already have written against.
  const previous = ctx.doc.split;
  const same = previous && JSON.stringify(previous.plan) === JSON.stringify(plan);
  const newState = async (): Promise<SplitState> => {
    const jpegEncoder = jpegEncoderFor(ctx.config.tileJpegEncoder, ctx.originalPath, probe, format);
    const columnWidth = ctx.config.workerSplitColumnWidth;
    return { plan, format, jpegEncoder, columnWidth, tiles: {}, bytes: {}, finished: [], jpegSlices: await sliceIndex(ctx, probe, plan, jpegEncoder) };
  };
  const [state] = await Promise.all([same ? previous : newState(), preview]);
  const levels = deepZoomLevels(probe.width, probe.height);
  await ctx.report.now({
    stage: 'tile',
    split: state,
    parts: { total: plan.bands, done: state.finished.length },
    format: state.format,
    levels: levels.length,
    'tiles.total': tileCount(levels),
  });
  await enqueueSplitJobs(split.flows, split.queue, ctx.id, plan.bands);
  ctx.logger.info({ imageId: ctx.id, ...plan }, 'image split into bands');
}
