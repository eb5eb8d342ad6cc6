/**
 * Stage 4: the tiles are already in S3 (uploaded row by row while they were
 * cut); what is left is the thumbnail, the manifest and, last, the descriptor:
 * viewers and the API treat "descriptor exists" as "pyramid complete".
 */
import { imageObjectTags } from '../../shared/storage/s3-setup.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { imageKeys } from '../../shared/image-status.js';
import { contentTypeFor } from '../../shared/storage/content-types.js';
import { IMMUTABLE_CACHE_CONTROL } from '../../shared/storage/tile-row-uploader.js';
import { DESCRIPTOR, MANIFEST, THUMBNAIL } from '../../shared/tiling/output-dir.js';
import { overallProgress, type JobContext } from '../job-context.js';

export async function uploadFinishingFiles(ctx: JobContext): Promise<void> {
  await ctx.report.now({ stage: 'upload', progress: overallProgress('upload', 0) });
  // An earlier attempt may have stored some of these before it died; they are few, so ask S3.
  const verify = ctx.doc.attempts > 1;
  for (const name of [THUMBNAIL, MANIFEST, DESCRIPTOR]) {
    const key = imageKeys.prefix(ctx.id) + name;
    const data = await readFile(path.join(ctx.outDir, name));
    if (verify && (await ctx.s3.head(key))?.size === data.length) continue;
    await ctx.s3.putSmallObject(key, data, { contentType: contentTypeFor(name), cacheControl: IMMUTABLE_CACHE_CONTROL, tags: imageObjectTags(ctx.doc.visibility) });
  }
}
