/**
 * Stage 1: make sure the original is stored in S3 and present on local disk.
 * libvips streams only from a file path, so the worker always tiles a local copy.
 *
 * URL sources are downloaded here (every redirect hop re-checked against the
 * SSRF policy), then copied to `originals/{id}` with a multipart upload whose
 * UploadId and parts are checkpointed in MongoDB, so a killed worker resumes
 * both the download (HTTP Range) and the upload (ListParts) where they stopped.
 */
import { mkdir, stat } from 'node:fs/promises';
import { NotFoundError } from '../../shared/errors.js';
import { imageKeys } from '../../shared/image-status.js';
import { fetchToFile } from '../../shared/net/fetch-to-file.js';
import { uploadFileResumable } from '../../shared/storage/multipart-upload.js';
import { contentTypeFor } from '../../shared/storage/content-types.js';
import { overallProgress, type JobContext } from '../job-context.js';

export async function fetchOriginal(ctx: JobContext): Promise<void> {
  await mkdir(ctx.dir, { recursive: true });
  const { doc } = ctx;
  const key = imageKeys.original(ctx.id);

  if (doc.source.kind === 'url' && !doc.checkpoint.originalStored) {
    await downloadFromUrl(ctx, doc.source.url ?? '');
    const state = await uploadFileResumable(ctx.s3, key, ctx.originalPath, {
      meta: { contentType: doc.source.contentType ?? 'application/octet-stream' },
      state: doc.checkpoint.original ?? null,
      onCheckpoint: async (s) => {
        await ctx.store.update(ctx.id, { 'checkpoint.original': s });
      },
    });
    await ctx.report.now({ 'checkpoint.originalStored': true, 'checkpoint.original': null, bytes: state.bytes });
    return;
  }

  const remote = await ctx.s3.head(key);
  if (!remote) {
    // The API stores the original before it enqueues the job, so this is a
    // deleted image or a lost bucket: retrying cannot bring it back.
    throw new NotFoundError(`original of image ${ctx.id}`);
  }
  const local = await stat(ctx.originalPath).catch(() => null);
  if (local?.size === remote.size) return;
  await ctx.s3.downloadToFile(key, ctx.originalPath);
}

async function downloadFromUrl(ctx: JobContext, url: string): Promise<void> {
  const local = await stat(ctx.originalPath).catch(() => null);
  if (local) return; // completed on an earlier attempt on this machine (written by rename)
  const res = await fetchToFile(url, ctx.originalPath, {
    allowHosts: ctx.config.fetchAllowHosts,
    maxBytes: ctx.config.maxUploadBytes,
    timeoutMs: ctx.config.fetchTimeoutMs,
    onProgress: (bytes, total) => {
      void ctx.report.progress({ progress: overallProgress('fetch', total ? bytes / total : 0) });
    },
  });
  const contentType = res.contentType ?? contentTypeFor(new URL(res.finalUrl).pathname);
  await ctx.report.now({ 'source.contentType': contentType, bytes: res.bytes });
  ctx.doc.source.contentType = contentType;
}
