/**
 * The public shape of an image: the status document minus internals
 * (checkpoint, multipart state), plus links. Used by GET, list, POST and the
 * event stream so that every client sees one shape.
 */
import type { Config } from '../../shared/config.js';
import type { ImageDoc } from '../../shared/image-status.js';
import { firstViewLevel } from '../../shared/tiling/pyramid.js';
import { canWrite, ownerOf, visibilityOf, type Visibility } from './access/image-access.js';
import { ANONYMOUS, type Principal } from './access/principal.js';

export interface ImageLinks {
  self: string;
  events: string;
  dzi: string | null;
  tiles: string;
  thumbnail: string | null;
  /** The whole image at the first-view level's size, there before any tile (JPEG inputs only). */
  preview: string | null;
}

export interface ImageView {
  id: string;
  status: ImageDoc['status'];
  stage: ImageDoc['stage'];
  progress: number;
  title: string | null;
  tags: string[];
  /** The uploaded file's name (display only), null for URL submissions. */
  filename: string | null;
  width: number | null;
  height: number | null;
  format: ImageDoc['format'];
  tileSize: number;
  levels: number | null;
  /**
   * `viewable`: the tiles a viewer needs to show the whole image sharply in a 1024 px window are
   * in S3, usually well before `done`: a viewer that builds the descriptor from width, height,
   * tileSize and format can open the image then (the .dzi itself is stored last).
   * `firstViewLevel`: the highest of those levels (0..firstViewLevel are complete once `viewable`);
   * null until the size is known.
   */
  tiles: { done: number; total: number; viewable: boolean; firstViewLevel: number | null };
  /** Length of the original in bytes (known at once for uploads, after the fetch for URLs). */
  bytes: number | null;
  /** An image cut by several workers (docs/split-jobs.md): its bands, and bands finished; null when cut whole. */
  parts: { total: number; done: number } | null;
  error: { code: string; message: string } | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  /** Only the owner and admins see a submitted URL's query (it may carry a signature or credentials). */
  source: { kind: ImageDoc['source']['kind']; filename?: string; url?: string };
  owner: string;
  visibility: Visibility;
  /** Whether the original may be downloaded by others (/i/o/...). */
  downloadable: boolean;
  /** Whether the caller may change or delete it (the owner or an admin). */
  canEdit: boolean;
  links: ImageLinks;
}

export const apiPath = {
  image: (id: string) => `/api/v1/images/${id}`,
  events: (id: string) => `/api/v1/images/${id}/events`,
};

/**
 * With PUBLIC_BASE_URL a CDN serves the bucket's `images/` prefix directly;
 * without it the API's own /tiles routes act as the origin.
 */
export function imageLinks(id: string, done: boolean, config: Pick<Config, 'publicBaseUrl'>, hasPreview = false, visibility: Visibility = 'public'): ImageLinks {
  // Private tiles never go through the CDN: the API's /tiles checks who asks.
  const base = config.publicBaseUrl && visibility !== 'private' ? `${config.publicBaseUrl}/images/${id}` : `/tiles/${id}`;
  return {
    self: apiPath.image(id),
    events: apiPath.events(id),
    dzi: done ? `${base}/image.dzi` : null,
    tiles: `${base}/image_files/`,
    thumbnail: done ? `${base}/thumbnail.jpg` : null,
    preview: hasPreview ? `${base}/preview.jpg` : null,
  };
}

/** `viewer`: who is asking (decides canEdit and whether a URL's query shows); anonymous when absent. */
export function toImageView(doc: ImageDoc, config: Pick<Config, 'publicBaseUrl'>, viewer: Principal = ANONYMOUS): ImageView {
  const canEdit = canWrite(viewer, doc);
  const visibility = visibilityOf(doc);
  const source: ImageView['source'] = { kind: doc.source.kind };
  if (doc.source.filename !== undefined) source.filename = doc.source.filename;
  if (doc.source.url !== undefined) source.url = canEdit ? doc.source.url : withoutQuery(doc.source.url);
  return {
    id: doc._id,
    status: doc.status,
    stage: doc.stage,
    progress: Math.min(1, Math.max(0, doc.progress)),
    title: doc.title,
    tags: doc.tags ?? [],
    filename: doc.source.filename ?? null,
    width: doc.width,
    height: doc.height,
    format: doc.format,
    tileSize: doc.tileSize,
    levels: doc.levels,
    tiles: {
      done: doc.tiles.done,
      total: doc.tiles.total,
      viewable: doc.tiles.viewable ?? doc.status === 'done',
      firstViewLevel: doc.width && doc.height ? firstViewLevel(doc.width, doc.height, doc.tileSize).level : null,
    },
    bytes: doc.bytes,
    parts: doc.parts ? { total: doc.parts.total, done: doc.parts.done } : null,
    error: doc.error ? { code: doc.error.code, message: doc.error.message } : null,
    attempts: doc.attempts,
    createdAt: new Date(doc.createdAt).toISOString(),
    updatedAt: new Date(doc.updatedAt).toISOString(),
    source,
    owner: ownerOf(doc),
    visibility,
    downloadable: doc.downloadable === true,
    canEdit,
    links: imageLinks(doc._id, doc.status === 'done', config, doc.preview !== undefined, visibility),
  };
}

/** The URL without user info, query or fragment: what others may see of a submitted URL. */
export function withoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}
