/**
 * The uploader of an image's tiles, as every job that stores them builds it (the whole cut, a band,
 * the assembling job): under the image's prefix, tagged with its visibility (S3's bucket policy
 * serves anonymously only what is tagged public: shared/storage/s3-setup.ts), as many PUTs in flight
 * as WORKER_TILE_PUTS, every tile counted in the worker's metrics. Built in one place because the
 * band and assembling jobs, written beside the whole cut, had left out the tags and the count.
 */
import { imageKeys } from '../shared/image-status.js';
import { imageObjectTags } from '../shared/storage/s3-setup.js';
import { TileRowUploader, type TileRowUploaderOptions } from '../shared/storage/tile-row-uploader.js';
import type { JobContext } from './job-context.js';

/** What differs between the jobs: the pyramid, the tiler, the checkpoint and where progress goes. */
export type ImageTileUploaderOptions = Pick<TileRowUploaderOptions, 'levels' | 'tiler' | 'checkpoint' | 'persist' | 'onProgress'>;

export function imageTileUploader(ctx: JobContext, opts: ImageTileUploaderOptions): TileRowUploader {
  return new TileRowUploader(ctx.s3, {
    ...opts,
    keyPrefix: imageKeys.prefix(ctx.id),
    concurrency: ctx.config.workerTilePuts,
    tags: imageObjectTags(ctx.doc.visibility),
    ...(ctx.metrics ? { onUploaded: ctx.metrics.tileUploaded } : {}),
  });
}
