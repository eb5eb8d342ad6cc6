/**
 * Downloads a URL to a local file through safeFetch, resumably.
 *
 * Bytes go to `<dest>.part` and the file is renamed into place only when
 * complete, so `<dest>` existing means it is whole. A retried job finds the
 * `.part` and asks for the rest with Range; `<dest>.part.validator` keeps the
 * first answer's ETag/Last-Modified and is sent as If-Range, so a resource that
 * changed in between comes back whole (200) instead of being spliced.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HugemapError, UploadTooLargeError, UrlFetchError, toHugemapError } from '../errors.js';
import { safeFetch, type SafeFetchOptions } from './safe-fetch.js';
import { redact } from './url-policy.js';

export interface FetchToFileOptions extends SafeFetchOptions {
  /** Called as bytes land on disk; `bytes` counts from the start of the file, resumed bytes included. */
  onProgress?: (bytes: number, total: number | null) => void;
}

export interface FetchToFileResult {
  bytes: number;
  contentType: string | null;
  finalUrl: string;
}

export async function fetchToFile(url: string, destPath: string, opts: FetchToFileOptions): Promise<FetchToFileResult> {
  const partPath = `${destPath}.part`;
  const validatorPath = `${partPath}.validator`;
  await mkdir(dirname(destPath), { recursive: true });

  const have = await sizeOf(partPath);
  const ifRange = have > 0 ? await readOptional(validatorPath) : undefined;
  const { onProgress, ...fetchOpts } = opts;
  try {
    const res = await safeFetch(url, { ...fetchOpts, rangeStart: have > 0 ? have : undefined, ifRange: ifRange ?? opts.ifRange });
    // A 200 to our Range request means the server starts over, and so do we.
    const start = res.resumed ? have : 0;
    const total = res.contentLength === null ? null : start + res.contentLength;
    if (!res.resumed) await rememberValidator(validatorPath, res.validator);

    let bytes = start;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        onProgress?.(bytes, total);
        callback(null, chunk);
      },
    });
    await pipeline(res.stream, counter, createWriteStream(partPath, { flags: res.resumed ? 'a' : 'w' }));
    if (total !== null && bytes !== total) {
      throw new UrlFetchError(redact(new URL(res.finalUrl)), `body ended after ${bytes} of ${total} bytes`, undefined, { transient: true });
    }
    await rename(partPath, destPath);
    await rm(validatorPath, { force: true });
    return { bytes, contentType: res.contentType, finalUrl: res.finalUrl };
  } catch (err) {
    // Too large never gets smaller: drop the partial file. Other failures keep it for the retry to resume.
    if (err instanceof UploadTooLargeError) await discard(partPath, validatorPath);
    throw err instanceof HugemapError ? err : toHugemapError(err);
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function rememberValidator(path: string, validator: string | null): Promise<void> {
  if (validator === null) await rm(path, { force: true });
  else await writeFile(path, validator);
}

async function discard(...paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { force: true })));
}
