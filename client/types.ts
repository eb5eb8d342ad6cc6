/** The API's JSON shapes, as the client returns them. */
import type { ImageView } from '../services/api/image-view.js';

/** The API's own view type: the client can never drift from what the server sends. */
export type ImageInfo = ImageView;
export type ImageState = ImageView['status'];

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
  /** public (listed), unlisted (anyone with the id) or private (owner and admins); the server's DEFAULT_VISIBILITY when absent. */
  visibility?: 'public' | 'unlisted' | 'private';
}

export type ScaledFormat = 'jpg' | 'webp' | 'png';

export interface ScaledUrlOptions {
  format?: ScaledFormat;
  /** Readable file name in the path (ignored by the server). */
  slug?: string;
}
