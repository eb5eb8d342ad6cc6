/**
 * A typed client for the hugemap HTTP API (`import { HugemapClient } from 'hugemap/client'`).
 * Node 20+ (uses fetch, node:fs and node:crypto). Every failure is a
 * HugemapApiError carrying the API's stable `HUGEMAP_ERR_*` code.
 *
 *   const hm = new HugemapClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.HUGEMAP_API_KEY });
 *   const { id } = await hm.saveImage('photo.jpg', { title: 'Harbour', tags: ['sea'], visibility: 'private' });
 *   await hm.waitUntilDone(id, { onProgress: (i) => console.log(i.progress) });
 *   hm.scaledImageUrl(id, '320x240');
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { signSize } from '../shared/scaled-signature.js';
import { HugemapApiError, HugemapTimeoutError, errorFromResponse } from './errors.js';
import { multipartBody } from './multipart.js';
import type { ImageInfo, SavedImage, SaveOptions, ScaledUrlOptions } from './types.js';

export interface HugemapClientOptions {
  /** The API's origin, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API key (`hm_...`, from POST /api/v1/keys or `hugemap keys create`), sent as `Authorization: Bearer`. Needed to upload or change images where AUTH_MODE=required. */
  apiKey?: string;
  /** The server's SIGNING_KEY: scaledImageUrl then signs sizes that are not presets. Keep it server-side. */
  signingKey?: string;
  /** Names the server treats as presets (never signed). @defaultValue thumb, small, medium, large, square */
  presets?: readonly string[];
  fetch?: typeof fetch;
}

export type ImageInput = string | URL | Buffer | Uint8Array | Readable;

const DEFAULT_PRESETS = ['thumb', 'small', 'medium', 'large', 'square'];

export class HugemapClient {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly presets: ReadonlySet<string>;

  constructor(private readonly options: HugemapClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? fetch;
    this.presets = new Set(options.presets ?? DEFAULT_PRESETS);
  }

  /**
   * Stores an image: a file path, a Buffer, a readable stream, or a URL (a
   * `URL` object or an `http(s)://` string) that the server fetches itself.
   * Bytes are streamed, never held whole.
   */
  async saveImage(input: ImageInput, opts: SaveOptions = {}): Promise<SavedImage> {
    if (input instanceof URL || (typeof input === 'string' && /^https?:\/\//i.test(input))) {
      const body: Record<string, unknown> = { url: String(input) };
      if (opts.title !== undefined) body.title = opts.title;
      if (opts.tags !== undefined) body.tags = opts.tags;
      if (opts.visibility !== undefined) body.visibility = opts.visibility;
      return this.saved(await this.request('POST', '/api/v1/images', { json: body }));
    }
    let stream: AsyncIterable<Uint8Array>;
    let filename = opts.filename;
    if (typeof input === 'string') {
      stream = createReadStream(input);
      filename ??= basename(input);
    } else if (input instanceof Uint8Array) {
      stream = Readable.from([input]);
    } else {
      stream = input;
    }
    const fields: Record<string, string> = {};
    if (opts.title !== undefined) fields.title = opts.title;
    if (opts.tags !== undefined) fields.tags = opts.tags.join(',');
    if (opts.visibility !== undefined) fields.visibility = opts.visibility;
    const { body, contentType } = multipartBody(fields, { filename: filename ?? 'image', stream });
    return this.saved(await this.request('POST', '/api/v1/images', { body, contentType }));
  }

  async getImage(id: string): Promise<ImageInfo> {
    return (await this.request('GET', `/api/v1/images/${enc(id)}`)).json() as Promise<ImageInfo>;
  }

  /**
   * Polls until the image is done. A failed image rejects with its own error
   * code (e.g. HUGEMAP_ERR_NOT_AN_IMAGE); past `timeoutMs`, HugemapTimeoutError.
   */
  async waitUntilDone(
    id: string,
    opts: { onProgress?: (image: ImageInfo) => void; timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<ImageInfo> {
    const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const image = await this.getImage(id);
      const seen = `${image.status}:${image.stage}:${image.progress}`;
      if (seen !== last) {
        last = seen;
        opts.onProgress?.(image);
      }
      if (image.status === 'done') return image;
      if (image.status === 'failed') {
        throw new HugemapApiError(image.error?.code ?? 'HUGEMAP_ERR_FAILED', image.error?.message ?? `image ${id} failed`, 0);
      }
      if (Date.now() > deadline) throw new HugemapTimeoutError(id, timeoutMs);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
    }
  }

  /** The original's bytes as stored (`/i/o/{id}.{ext}`; the extension must match its format). */
  imageUrl(id: string, ext: 'jpg' | 'png' | 'webp' | 'tif' = 'jpg'): string {
    return `${this.base}/i/o/${enc(id)}.${ext}`;
  }

  /** `/i/{size}/{id}[/{slug}].{ext}`, signed when this client has the key and `size` is not a preset. */
  scaledImageUrl(id: string, size: string, opts: ScaledUrlOptions = {}): string {
    const ext = opts.format ?? 'jpg';
    const file = opts.slug ? `${enc(id)}/${enc(opts.slug)}.${ext}` : `${enc(id)}.${ext}`;
    let url = `${this.base}/i/${enc(size)}/${file}`;
    if (this.options.signingKey && size !== 'o' && !this.presets.has(size)) url += `?s=${signSize(this.options.signingKey, size, id)}`;
    return url;
  }

  /** The `<img>` element the server builds (src, exact width/height, escaped alt). */
  async scaledTag(id: string, size: string, opts: { format?: 'jpg' | 'webp' | 'png' } = {}): Promise<string> {
    const q = new URLSearchParams({ size, format: opts.format ?? 'jpg' });
    return (await this.request('GET', `/api/v1/images/${enc(id)}/tag?${q}`)).text();
  }

  async scaledDimensions(id: string, size: string): Promise<{ width: number; height: number }> {
    const q = new URLSearchParams({ size });
    return (await this.request('GET', `/api/v1/images/${enc(id)}/scaled-dimensions?${q}`)).json() as Promise<{ width: number; height: number }>;
  }

  /** Length of the original in bytes; null while a URL submission is not fetched yet. */
  async getLength(id: string): Promise<number | null> {
    return (await this.getImage(id)).bytes;
  }

  async getRandomImageId(): Promise<string> {
    return ((await (await this.request('GET', '/api/v1/images/random')).json()) as { id: string }).id;
  }

  /** The next image in the listing order (older), or null at the end. */
  async getNextImageId(id: string): Promise<string | null> {
    return ((await (await this.request('GET', `/api/v1/images/${enc(id)}/next`)).json()) as { id: string | null }).id;
  }

  /** The previous image in the listing order (newer), or null at the start. */
  async getPreviousImageId(id: string): Promise<string | null> {
    return ((await (await this.request('GET', `/api/v1/images/${enc(id)}/previous`)).json()) as { id: string | null }).id;
  }

  /** null clears the title. */
  async setTitle(id: string, title: string | null): Promise<ImageInfo> {
    return (await this.request('PATCH', `/api/v1/images/${enc(id)}`, { json: { title } })).json() as Promise<ImageInfo>;
  }

  /** Replaces the whole tag list. */
  async setTags(id: string, tags: string[]): Promise<ImageInfo> {
    return (await this.request('PATCH', `/api/v1/images/${enc(id)}`, { json: { tags } })).json() as Promise<ImageInfo>;
  }

  async deleteImage(id: string): Promise<void> {
    await this.request('DELETE', `/api/v1/images/${enc(id)}`);
  }

  private async saved(res: Response): Promise<SavedImage> {
    const body = (await res.json()) as { id: string; status: SavedImage['status']; duplicate?: boolean };
    return { id: body.id, status: body.status, duplicate: body.duplicate === true };
  }

  private async request(method: string, path: string, opts: { json?: unknown; body?: ReadableStream<Uint8Array>; contentType?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.options.apiKey !== undefined) headers.authorization = `Bearer ${this.options.apiKey}`;
    let body: BodyInit | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.body) {
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      body = opts.body;
    }
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, { method, headers, body, ...(opts.body ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (err) {
      throw new HugemapApiError('HUGEMAP_ERR_UNREACHABLE', `could not reach ${this.base}: ${(err as Error).message}`, 0);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}

const enc = encodeURIComponent;
