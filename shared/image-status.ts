/**
 * The status document of one image, as stored in MongoDB (collection `images`)
 * and, minus internals, as the API returns it. MongoDB is the durable history;
 * BullMQ's own job events are not.
 */
import type { JpegEncoder, TileFormat } from './tiling/tile-image.js';
import type { JpegSliceIndex } from './tiling/jpeg-slice.js';
import type { BandPlan } from './tiling/band-plan.js';
import type { MultipartState } from './storage/multipart-upload.js';
import type { TileRowCheckpoint } from './storage/tile-row-uploader.js';

export type ImageState = 'queued' | 'processing' | 'done' | 'failed';
/** Where the pipeline is; each stage is idempotent and resumable. */
export type ImageStage = 'queued' | 'fetch' | 'probe' | 'tile' | 'upload' | 'done' | 'failed';

export interface ImageSource {
  kind: 'upload' | 'url';
  url?: string;
  filename?: string;
  contentType?: string;
  bytes?: number;
  /** SHA-256 (hex) of the original, known at once for uploads. */
  sha256?: string;
}

export interface ImageCheckpoint {
  /** Multipart upload of an original fetched by URL, resumed after a crash. */
  original?: MultipartState | null;
  /** True once `originals/{id}` is complete in S3. */
  originalStored?: boolean;
  /** Rows of tiles already in S3, per pyramid level (tile-row-uploader.ts). */
  tileRows?: TileRowCheckpoint;
  /**
   * The same per part of a split image: `b{index}` for a band (its own level and row numbers),
   * `b{index}c{column}` for each column of a band cut as columns, `assemble`.
   */
  parts?: Record<string, TileRowCheckpoint>;
}

/** A split image's internals (docs/split-jobs.md): what every band and the assembling job read. */
export interface SplitState {
  plan: BandPlan;
  format: TileFormat;
  /** Decided once from the original, so every part writes the bytes an unsplit cut would. */
  jpegEncoder: JpegEncoder | null;
  /**
   * A band read from a TIFF and wider than this is cut as columns (band-cut.ts): WORKER_SPLIT_COLUMN_WIDTH
   * of the worker that split the image, kept for every part and retry, because a column's checkpoint
   * and progress are named by its index (`b{index}c{column}`): a worker set otherwise would read
   * another column's checkpoint as its own and skip tiles nobody cut. Absent in documents split
   * before it was kept: the band's worker's own setting.
   */
  columnWidth?: number;
  /** Tiles in S3 per part (`b{index}`, `b{index}c{column}`, `assemble`): their sum is `tiles.done`. */
  tiles: Record<string, number>;
  /** Bytes of each part's tiles, for the manifest. */
  bytes: Record<string, number>;
  /** Indexes of the bands whose tiles and level image are stored. */
  finished: number[];
  /**
   * Where each band's bytes are in a plain baseline JPEG (jpeg-slice.ts): bands then fetch and
   * decode only their own rows. Absent or null: each band fetches the original and decodes from the top.
   */
  jpegSlices?: JpegSliceIndex | null;
}

export interface ImageDoc {
  _id: string;
  status: ImageState;
  stage: ImageStage;
  progress: number;
  title: string | null;
  /** Lower-case labels for browsing (`GET /api/v1/images?tag=`); absent on documents older than tags. */
  tags?: string[];
  source: ImageSource;
  width: number | null;
  height: number | null;
  format: TileFormat | null;
  tileSize: number;
  levels: number | null;
  /** Size of the preview in S3 (imageKeys.preview), set once it is stored; absent when the input gets none. */
  preview?: { width: number; height: number };
  /** `viewable`: every tile of the first-view levels (pyramid.ts, firstViewLevels) is in S3; absent on older documents. */
  tiles: { done: number; total: number; viewable?: boolean };
  bytes: number | null;
  error: { code: string; message: string } | null;
  attempts: number;
  checkpoint: ImageCheckpoint;
  /** Set when the image is cut as bands by several workers: bands, and bands finished. */
  parts?: { total: number; done: number };
  split?: SplitState;
  /** The user who uploaded it; absent on documents from before accounts (the bootstrap admin's). */
  owner?: string;
  /** public (listed), unlisted (by id only) or private (owner and admins); absent means public. */
  visibility?: 'public' | 'unlisted' | 'private';
  /** Whether the original may be downloaded (/i/o/...); absent means no. */
  downloadable?: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export function newImageDoc(id: string, source: ImageSource, title: string | null, now = new Date(), tags: string[] = []): ImageDoc {
  return {
    _id: id,
    status: 'queued',
    stage: 'queued',
    progress: 0,
    title,
    tags,
    source,
    width: null,
    height: null,
    format: null,
    tileSize: 256,
    levels: null,
    tiles: { done: 0, total: 0, viewable: false },
    bytes: source.bytes ?? null,
    error: null,
    attempts: 0,
    checkpoint: {},
    createdAt: now,
    updatedAt: now,
  };
}

/** Object-store keys of one image; tiles are public (CDN), originals private. */
export const imageKeys = {
  original: (id: string) => `originals/${id}`,
  /** Where an upload lands until its content id is known. */
  pendingUpload: (token: string) => `uploads/${token}`,
  prefix: (id: string) => `images/${id}/`,
  descriptor: (id: string) => `images/${id}/image.dzi`,
  thumbnail: (id: string) => `images/${id}/thumbnail.jpg`,
  /** The whole image at the first-view level's size, stored before the tiles (shared/tiling/preview.ts). */
  preview: (id: string) => `images/${id}/preview.jpg`,
  /** A split image's intermediate files (the bands' level images): private, removed once it is done. */
  work: (id: string) => `work/${id}/`,
  bandLevelImage: (id: string, band: number) => `work/${id}/level-${band}.png`,
};
