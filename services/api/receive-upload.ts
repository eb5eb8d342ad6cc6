/**
 * Streams a multipart/form-data upload (`file`, optional `title`, `tags`, `visibility`, in
 * any order) straight into S3, hashing the bytes on the way (SHA-256, for the
 * content id): memory stays bounded whatever the file's size. Refused
 * uploads leave nothing behind: a failed multipart upload is aborted by
 * uploadStream, and a stored original is deleted if a later part is bad.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { BadRequestError, EmptyInputError, NotAnImageError } from '../../shared/errors.js';
import type { S3Store } from '../../shared/storage/s3-store.js';
import { uploadStream } from '../../shared/storage/multipart-upload.js';
import { SNIFF_BYTES, sniffImageFormat } from './sniff-image.js';

export interface ReceivedUpload {
  /** Raw `title` field, unvalidated; null when absent. */
  title: string | null;
  /** Raw `tags` field (comma-separated), unvalidated; null when absent. */
  tags: string | null;
  /** Raw `visibility` field, unvalidated; null when absent. */
  visibility: string | null;
  /** SHA-256 of the file's bytes. */
  sha256: Buffer;
  filename: string | undefined;
  contentType: string;
  bytes: number;
}

interface StoredFile {
  sha256: Buffer;
  filename: string | undefined;
  contentType: string;
  bytes: number;
}

export interface ReceiveOptions {
  s3: S3Store;
  key: string;
  maxBytes: number;
}

export function receiveUpload(req: IncomingMessage, opts: ReceiveOptions): Promise<ReceivedUpload> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      // RFC 7578: browsers send file names as raw UTF-8; busboy's default reads them as latin1.
      defParamCharset: 'utf8',
      // busboy fires filesLimit/fieldsLimit on one too many, but partsLimit on reaching the count: 5 means "a fifth part".
      limits: { files: 1, fields: 3, fieldSize: 4096, parts: 5, headerPairs: 20 },
    });
  } catch {
    return Promise.reject(new BadRequestError('malformed multipart/form-data request (missing boundary?)'));
  }

  return new Promise<ReceivedUpload>((resolve, reject) => {
    let title: string | null = null;
    let tags: string | null = null;
    let visibility: string | null = null;
    let fileStream: Readable | null = null;
    let stored: Promise<StoredFile> | null = null;
    let settled = false;

    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      // Read and drop the rest of the body so the client gets to see our answer.
      req.resume();
      fileStream?.destroy(err instanceof Error ? err : new Error(String(err)));
      const undo = stored
        ? stored.then(() => opts.s3.deleteKey(opts.key)).then(() => undefined, () => undefined)
        : Promise.resolve();
      void undo.then(() => reject(err));
    };

    parser.on('file', (name, file, info) => {
      if (name !== 'file' || stored) {
        file.resume();
        fail(new BadRequestError(stored ? 'only one file per request' : `unexpected file field "${name}" (expected "file")`));
        return;
      }
      fileStream = file;
      stored = storeFile(file, info.filename, opts);
      stored.catch(fail);
    });
    parser.on('field', (name, value, info) => {
      if (name !== 'title' && name !== 'tags' && name !== 'visibility') {
        return fail(new BadRequestError(`unknown field "${name}" (expected "file" and optional "title", "tags", "visibility")`));
      }
      if (info.valueTruncated) return fail(new BadRequestError(`${name} is too long`));
      if (name === 'title') title = value;
      else if (name === 'tags') tags = value;
      else visibility = value;
    });
    const tooMany = () => fail(new BadRequestError('too many parts: send one "file" and optional "title", "tags" and "visibility"'));
    parser.on('filesLimit', tooMany);
    parser.on('fieldsLimit', tooMany);
    parser.on('partsLimit', tooMany);
    parser.on('error', (err: Error) => fail(new BadRequestError(`malformed multipart body: ${err.message}`)));
    parser.on('close', () => {
      if (!stored) return fail(new BadRequestError('multipart body has no "file" field'));
      stored.then((file) => {
        if (settled) return;
        settled = true;
        resolve({ title, tags, visibility, ...file });
      }, fail);
    });
    req.on('close', () => {
      if (!req.complete) fail(new BadRequestError('upload aborted by the client'));
    });
    req.pipe(parser);
  });
}

async function storeFile(file: Readable, filename: string | undefined, opts: ReceiveOptions): Promise<StoredFile> {
  const { head, body } = await peek(file, SNIFF_BYTES);
  if (head.length === 0) throw new EmptyInputError('uploaded file');
  const format = sniffImageFormat(head);
  if (!format) throw new NotAnImageError('uploaded file');
  const contentType = `image/${format}`;
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  body.on('error', (err) => hashing.destroy(err));
  const { bytes } = await uploadStream(opts.s3, opts.key, body.pipe(hashing), { meta: { contentType }, maxBytes: opts.maxBytes });
  return { sha256: hash.digest(), filename: cleanFilename(filename), contentType, bytes };
}

/** Reads at least `n` bytes (fewer at end of stream) and gives back a stream of the whole input. */
async function peek(stream: Readable, n: number): Promise<{ head: Buffer; body: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    chunks.push(r.value);
    length += r.value.length;
  }
  const head = Buffer.concat(chunks);
  async function* whole(): AsyncGenerator<Buffer> {
    yield head;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head, body: Readable.from(whole(), { objectMode: false }) };
}

/** A display name only (never a path): no directories, no control characters, bounded length. */
function cleanFilename(name: string | undefined): string | undefined {
  // eslint-disable-next-line no-control-regex
  const base = (name ?? '').split(/[\\/]/).pop()!.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return base === '' ? undefined : base;
}
