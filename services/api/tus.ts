/**
 * Resumable browser uploads over the tus protocol (https://tus.io), mounted at
 * /api/v1/uploads. @tus/s3-store writes the bytes into a pending key
 * (`uploads/tus-{random}`) as an S3 multipart upload, so a dropped connection
 * or a page reload continues from the last stored byte. When the last byte
 * lands, the object is read back once to hash and sniff it, moved to
 * `originals/{content id}` and registered exactly like a multipart upload
 * (registerImage): status document first, then the job. The same bytes again
 * give the existing image.
 *
 * Locks and the metadata cache are in memory: with several API replicas, a
 * load balancer must keep one upload on one replica (or add a shared locker).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, type Upload } from '@tus/server';
import { S3Store as TusS3Store } from '@tus/s3-store';
import { HugemapError, NotAnImageError, EmptyInputError } from '../../shared/errors.js';
import { imageKeys, type ImageSource } from '../../shared/image-status.js';
import { requestIdOf } from './request-id.js';
import { registerImage, type Ownership } from './create-image.js';
import type { Request as ExpressRequest } from 'express';
import { ANONYMOUS, ownerName, type Principal } from './access/principal.js';
import { auditFrom } from './access/audit.js';
import { quotaFor } from './access/upload-quota.js';
import type { ApiDeps } from './deps.js';
import { ownedImageId } from './image-id.js';
import { parseTagsField, parseTitle, parseVisibility } from './image-meta.js';
import { imageLinks } from './image-view.js';
import { moveObject } from './move-object.js';
import { SNIFF_BYTES, sniffImageFormat } from './sniff-image.js';

export const TUS_PATH = '/api/v1/uploads';
const PENDING_KEY = /^uploads\/tus-[A-Za-z0-9_-]{16,64}$/;
/** An upload's URL segment: base64url of its pending key. */
const UPLOAD_SEGMENT = /^[A-Za-z0-9_-]{1,200}$/;
/** Upload metadata key the server sets at creation (after the client's own metadata). */
const OWNER_META = 'hugemap-owner';

/** The express request behind the web Request @tus/server hands to hooks (srvx keeps it). */
function expressRequestOf(req: unknown): ExpressRequest | undefined {
  const r = req as { runtime?: { node?: { req?: ExpressRequest } }; node?: { req?: ExpressRequest } };
  return r.runtime?.node?.req ?? r.node?.req;
}

function principalOf(req: unknown): Principal {
  return expressRequestOf(req)?.principal ?? ANONYMOUS;
}

/** A malformed upload id never reaches S3 (whose answer would leak as a 500): 404 like any unknown upload. */
function isWellFormedUploadPath(path: string): boolean {
  const rest = path.slice(TUS_PATH.length).replace(/^\/+/, '').split('?')[0] ?? '';
  if (rest === '') return true;
  if (!UPLOAD_SEGMENT.test(rest)) return false;
  return PENDING_KEY.test(Buffer.from(rest, 'base64url').toString('utf8'));
}

/** A tus error answer: the body carries our usual `{error: {code, message}}`. */
class TusRefusal {
  constructor(
    readonly status_code: number,
    readonly body: string,
  ) {}
}

function refusal(status: number, code: string, message: string): TusRefusal {
  return new TusRefusal(status, JSON.stringify({ error: { code, message } }));
}

export type TusHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function createTusHandler(deps: ApiDeps): TusHandler {
  const { config, logger } = deps;
  const datastore = new TusS3Store({
    partSize: config.tusPartBytes,
    s3ClientConfig: {
      bucket: config.s3.bucket,
      region: config.s3.region,
      forcePathStyle: config.s3.forcePathStyle,
      ...(config.s3.endpoint ? { endpoint: config.s3.endpoint } : {}),
      ...(config.s3.accessKeyId && config.s3.secretAccessKey
        ? { credentials: { accessKeyId: config.s3.accessKeyId, secretAccessKey: config.s3.secretAccessKey } }
        : {}),
    },
  });

  const server = new Server({
    path: TUS_PATH,
    datastore,
    maxSize: config.maxUploadBytes,
    relativeLocation: true,
    respectForwardedHeaders: true,
    namingFunction: () => imageKeys.pendingUpload(`tus-${randomBytes(16).toString('base64url')}`),
    generateUrl: (_req, { path, id }) => `${path}/${Buffer.from(id, 'utf8').toString('base64url')}`,
    getFileIdFromRequest: (_req, lastPath) => (lastPath ? Buffer.from(lastPath, 'base64url').toString('utf8') : undefined),
    async onUploadCreate(req, upload) {
      const type = upload.metadata?.filetype ?? '';
      // Browsers say what they think; the bytes are sniffed again at the end.
      if (type !== '' && !type.startsWith('image/')) {
        throw refusal(415, new NotAnImageError('uploaded file').code, `refused: "${type}" is not an image type`);
      }
      if (upload.size === 0) throw refusal(400, new EmptyInputError('uploaded file').code, 'the file is empty');
      // Who creates the upload owns the image; written into the upload's own metadata, which clients cannot change later.
      const principal = principalOf(req);
      const owner = ownerName(principal);
      if (owner === null) throw refusal(401, 'HUGEMAP_ERR_UNAUTHENTICATED', 'sign in or send an API key');
      const visibility = parseVisibility(upload.metadata?.visibility, config.defaultVisibility);
      (await quotaFor(deps, principal)).assert({ images: 1, bytes: upload.size ?? 0 });
      return { metadata: { ...upload.metadata, [OWNER_META]: owner, visibility } };
    },
    async onUploadFinish(req, upload) {
      const original = expressRequestOf(req);
      const { id, status, duplicate } = await registerFinished(deps, upload, original ? requestIdOf(original) : undefined);
      deps.metrics?.countUpload(200, duplicate);
      deps.metrics?.uploadBytes.inc(upload.size ?? 0);
      if (!duplicate && original) await auditFrom(deps)(original, 'image.create', `image:${id}`, { detail: { source: 'tus' } });
      const { self, events, dzi, thumbnail } = imageLinks(id, status === 'done', config);
      return {
        status_code: 200,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ id, status, ...(duplicate ? { duplicate } : {}), links: { self, events, dzi, thumbnail } }),
      };
    },
    onResponseError(_req, err) {
      if (err instanceof TusRefusal) return { status_code: err.status_code, body: err.body };
      if (err instanceof HugemapError) return { status_code: err.httpStatus, body: JSON.stringify({ error: { code: err.code, message: err.message } }) };
      if ('status_code' in err && err.status_code === 413) {
        const message = `upload is larger than the limit of ${config.maxUploadBytes} bytes`;
        return { status_code: 413, body: JSON.stringify({ error: { code: 'HUGEMAP_ERR_UPLOAD_TOO_LARGE', message } }) };
      }
      if (!('status_code' in err)) logger.error({ err }, 'tus upload failed');
      return undefined;
    },
  });

  return (req, res) => server.handle(req, res);
}

interface Registered {
  id: string;
  status: string;
  duplicate: boolean;
}

/** Hashes and sniffs the finished upload, then registers it; a refused file is deleted. */
async function registerFinished(deps: ApiDeps, upload: Upload, reqId: string | undefined): Promise<Registered> {
  const key = upload.id;
  if (!PENDING_KEY.test(key)) throw refusal(400, 'HUGEMAP_ERR_BAD_REQUEST', 'unexpected upload id');
  const dropPending = () =>
    Promise.all([deps.s3.deleteKey(key), deps.s3.deleteKey(`${key}.info`)]).catch((e: unknown) =>
      deps.logger.warn({ err: e, key }, 'could not delete a pending tus upload'),
    );
  let id: string;
  let source: ImageSource;
  let title: string | null;
  let tags: string[];
  let ownership: Ownership;
  try {
    title = parseTitle(cleanTitle(upload.metadata?.title));
    tags = parseTagsField(upload.metadata?.tags ?? null);
    const { head, sha256, bytes } = await readBack(deps, key);
    const format = sniffImageFormat(head);
    if (!format) throw refusal(415, new NotAnImageError('uploaded file').code, 'refused: the uploaded file is not a JPEG, PNG, TIFF or WebP image');
    const owner = upload.metadata?.[OWNER_META];
    if (!owner) throw refusal(400, 'HUGEMAP_ERR_BAD_REQUEST', 'upload has no owner');
    ownership = { owner, visibility: parseVisibility(upload.metadata?.visibility, deps.config.defaultVisibility) };
    id = ownedImageId(owner, sha256);
    source = { kind: 'upload', contentType: `image/${format}`, bytes, sha256: sha256.toString('hex') };
    const filename = cleanName(upload.metadata?.filename);
    if (filename) source.filename = filename;
  } catch (err) {
    await dropPending();
    throw err;
  }
  const existing = await deps.store.get(id);
  if (existing) {
    await dropPending();
    return { id, status: existing.status, duplicate: true };
  }
  try {
    await moveObject(deps.s3, key, imageKeys.original(id), source.bytes!, source.contentType!);
    await registerImage(deps, id, source, title, tags, ownership, { reqId });
  } catch (err) {
    await dropPending();
    // The same bytes registered a moment ago by someone else: theirs stands.
    const winner = (err as { code?: unknown }).code === 11000 ? await deps.store.get(id) : null;
    if (winner) return { id, status: winner.status, duplicate: true };
    await deps.s3.deleteKey(imageKeys.original(id)).catch(() => undefined);
    throw err;
  }
  await deps.s3.deleteKey(`${key}.info`).catch(() => undefined);
  return { id, status: 'queued', duplicate: false };
}

/** One pass over the stored object: its first bytes, SHA-256 and length. */
async function readBack(deps: ApiDeps, key: string): Promise<{ head: Buffer; sha256: Buffer; bytes: number }> {
  const object = await deps.s3.getStream(key);
  const hash = createHash('sha256');
  let head = Buffer.alloc(0);
  let bytes = 0;
  for await (const chunk of object.stream as AsyncIterable<Buffer>) {
    if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
    hash.update(chunk);
    bytes += chunk.length;
  }
  if (bytes === 0) throw new EmptyInputError('uploaded file');
  return { head, sha256: hash.digest(), bytes };
}

function cleanTitle(value: string | null | undefined): string | null {
  // eslint-disable-next-line no-control-regex
  return value == null ? null : value.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** A display name only (never a path). */
function cleanName(value: string | null | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex
  const clean = (value ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return clean === '' ? undefined : clean;
}

/** For `app.use(TUS_PATH, ...)`: tus matches on the full path, which express strips from req.url. */
export function tusRouter(deps: ApiDeps): (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse) => void {
  const handle = createTusHandler(deps);
  return (req, res) => {
    if (req.originalUrl) req.url = req.originalUrl;
    if (!isWellFormedUploadPath(req.url ?? '')) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: 'HUGEMAP_ERR_NOT_FOUND', message: 'upload not found' } }));
      return;
    }
    handle(req, res).catch((err: unknown) => {
      deps.logger.error({ err }, 'tus handler failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: 'HUGEMAP_ERR_INTERNAL', message: 'internal error' } }));
      else res.destroy();
    });
  };
}
