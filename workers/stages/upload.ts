/**
 * Stage 4: upload the tile folder to `images/{id}/`, descriptor last, with the
 * count of files already stored checkpointed in MongoDB after every batch.
 */
import { imageKeys } from '../../shared/image-status.js';
import { uploadTileFolder } from '../../shared/storage/tile-uploader.js';
import type { TileManifest } from '../../shared/tiling/tile-image.js';
import { overallProgress, type JobContext } from '../job-context.js';

export async function uploadTiles(ctx: JobContext, manifest: TileManifest): Promise<void> {
  await ctx.report.now({ stage: 'upload' });
  await uploadTileFolder(ctx.s3, ctx.outDir, imageKeys.prefix(ctx.id), {
    checkpoint: { uploaded: ctx.doc.checkpoint.tilesUploaded ?? 0 },
    descriptorLast: 'image.dzi',
    onBatch: async (cp, totalFiles) => {
      // The checkpoint must be durable before the next batch starts: write it now, not throttled.
      await ctx.report.now({
        'checkpoint.tilesUploaded': cp.uploaded,
        'tiles.done': Math.min(cp.uploaded, manifest.tiles),
        progress: overallProgress('upload', cp.uploaded / totalFiles),
      });
    },
  });
}
