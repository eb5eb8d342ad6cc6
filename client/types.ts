/** The API's JSON shapes, as the client returns them. */
export type ImageState = 'queued' | 'processing' | 'done' | 'failed';

export interface ImageInfo {
  id: string;
  status: ImageState;
  stage: string;
  progress: number;
  title: string | null;
  tags: string[];
  filename: string | null;
  width: number | null;
  height: number | null;
  format: 'jpeg' | 'png' | 'webp' | null;
  tileSize: number;
  levels: number | null;
  tiles: { done: number; total: number };
  bytes: number | null;
  error: { code: string; message: string } | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  source: { kind: 'upload' | 'url'; filename?: string; url?: string };
  links: { self: string; events: string; dzi: string | null; tiles: string; thumbnail: string | null };
}

export interface SavedImage {
  id: string;
  status: ImageState;
  /** True when the same bytes were already stored: the existing image was returned. */
  duplicate: boolean;
}

export interface SaveOptions {
  title?: string;
  tags?: string[];
  /** File name to report for Buffer and stream input (a path's own name is used otherwise). */
  filename?: string;
}

export type ScaledFormat = 'jpg' | 'webp' | 'png';

export interface ScaledUrlOptions {
  format?: ScaledFormat;
  /** Readable file name in the path (ignored by the server). */
  slug?: string;
}
