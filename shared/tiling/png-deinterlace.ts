/**
 * Rewrites an interlaced (Adam7) PNG as a non-interlaced one in bounded memory,
 * so libvips can then read it top to bottom instead of decoding it whole
 * (803 MB at 236 MP, docs/memory.md); or writes that PNG into a pipe that the
 * cut reads as it comes (deinterlaceToStream), with no file between.
 *
 * The image data is inflated as a stream and each pass's row filters undone
 * (a row needs only the previous row of its pass). Passes 1-6 hold every even
 * row and pass 7, last in the data, every odd row, whole: the rows of passes
 * 1-6 are appended to one temp file (half the raw pixels: one sequential
 * write), and from the first row of pass 7 on each output row is built as it
 * arrives: an even row from the next row of each of its passes in that file
 * (up to four sequential readers), an odd row from pass 7 itself. So output
 * starts once half the data is inflated and overlaps the rest. Memory: a few
 * rows and fixed buffers; disk: half the raw pixels (deleted at the end) plus,
 * for the PNG, the new file.
 *
 * Every other chunk that matters is copied verbatim in its place (palette,
 * transparency, colour profile, gamma, EXIF...), so the new file decodes to
 * exactly the same pixels and metadata.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, crc32, createDeflate, createInflate } from 'node:zlib';
import { HugemapError } from '../errors.js';
import { BufferedReader, BufferedWriter } from './buffered-file.js';
import { StoredZlibStream } from './zlib-stored.js';
import { adam7Passes, isEmpty, passesForRow, scatterRow, unfilterRow, type Adam7Pass } from './png-adam7.js';
import {
  PNG_SIGNATURE, bitsPerPixel, chunkHead, crcBytes, encodeIhdr, parseIhdr, writeChunk,
  PngChunkReader, type ChunkHeader, type PngHeader,
} from './png-chunks.js';

export type { PngHeader } from './png-chunks.js';

/**
 * zlib level of the rewritten file. Measured on a 59 MP RGB photo (docs/memory.md):
 * level 1 costs little time over stored blocks and roughly halves the temp file.
 */
export const DEFAULT_DEINTERLACE_LEVEL = 1;

export interface DeinterlaceResult {
  header: PngHeader;
  /** Bytes of unfiltered pass rows held on disk during the rewrite (removed before returning). */
  rawBytes: number;
  /** Size of the non-interlaced PNG written (of the PPM stream, for deinterlaceToPpm). */
  outputBytes: number;
}

/** Ancillary chunks whose names mark them unsafe to copy, but that we know still describe the same pixels. */
const KNOWN_UNSAFE = new Set(['PLTE', 'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP', 'sBIT', 'bKGD', 'hIST', 'cICP', 'mDCV', 'cLLI', 'eXIf']);
/** Unknown ancillary chunks marked unsafe to copy (e.g. APNG frames) are dropped, as the PNG rules ask of an editor. */
function keepChunk(type: string): boolean {
  const ancillary = (type.charCodeAt(0) & 0x20) !== 0;
  const safeToCopy = (type.charCodeAt(3) & 0x20) !== 0;
  return !ancillary || safeToCopy || KNOWN_UNSAFE.has(type);
}

/** The IHDR of a PNG file, or null when the file is not a PNG. Reads 33 bytes. */
export async function readPngHeader(path: string): Promise<PngHeader | null> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(33);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.subarray(0, 8).equals(PNG_SIGNATURE) || head.toString('latin1', 12, 16) !== 'IHDR') return null;
    return parseIhdr(head.subarray(16, 29), (detail) => new Error(detail));
  } catch {
    return null;
  } finally {
    await file.close();
  }
}

export async function deinterlacePng(inputPath: string, outputPath: string, opts: { level?: number } = {}): Promise<DeinterlaceResult> {
  const level = opts.level ?? DEFAULT_DEINTERLACE_LEVEL;
  const rawPath = `${outputPath}.passes`;
  const input = await PngChunkReader.open(inputPath);
  const outFile = await open(outputPath, 'w');
  const rawFile = await open(rawPath, 'w+');
  try {
    const header = await readInterlacedHeader(input, inputPath);
    const out = new BufferedWriter(outFile);
    await out.write(PNG_SIGNATURE);
    await writeChunk(out, 'IHDR', encodeIhdr({ ...header, interlace: 0 }));

    let chunk = await copyChunksUntil(input, out, 'IDAT');
    if (chunk === null) throw input.corrupt('no image data (IDAT) before the end of the file');
    const rows = new RowAssembler(header, rawFile, 1, (detail) => input.corrupt(detail));
    let after: ChunkHeader | null = null;
    await decodeImageData(
      input,
      chunk,
      (next) => (after = next),
      rows,
      createDeflate({ level, chunkSize: 256 * 1024 }),
      async (compressed: AsyncIterable<Buffer>) => {
        for await (const data of compressed) await writeChunk(out, 'IDAT', data);
      },
    );
    chunk = after && (await copyChunksUntil(input, out, 'IEND', after));
    if (chunk === null) throw input.corrupt('truncated: no IEND chunk');
    await writeChunk(out, 'IEND', Buffer.alloc(0));
    await out.flush();
    return { header, rawBytes: rows.rawBytes, outputBytes: out.position };
  } catch (err) {
    await rm(outputPath, { force: true });
    throw err;
  } finally {
    await Promise.allSettled([input.close(), outFile.close(), rawFile.close()]);
    await rm(rawPath, { force: true });
  }
}

/** Chunks a decoder needs besides the image data to give the same pixels (at most 768 and 256 bytes). */
const PIXEL_CHUNKS = new Set(['PLTE', 'tRNS']);

/**
 * The same rewrite as deinterlacePng, written to a stream (`out`, ended) instead of a file and
 * without the metadata chunks: a non-interlaced PNG with the original's pixels that libvips
 * reads from a pipe, so the cut (tile-image.ts) starts on the first rows while the rest are
 * still inflated. Only IHDR, PLTE, tRNS, the image data and IEND go; the caller has checked
 * that nothing else would change the tiles (no profile to apply, no orientation). The input is
 * read to its IEND before the last rows go out, so a damaged file fails as deinterlacePng would,
 * before the reader can have every row. Pass rows wait in a temp folder under `tmpDir`.
 */
export async function deinterlaceToStream(inputPath: string, out: Writable, opts: { tmpDir?: string } = {}): Promise<DeinterlaceResult> {
  const dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'hugemap-adam7-'));
  const input = await PngChunkReader.open(inputPath);
  let rawFile: FileHandle | undefined;
  try {
    rawFile = await open(join(dir, 'passes'), 'w+');
    const header = await readInterlacedHeader(input, inputPath);
    const head = [PNG_SIGNATURE, chunkBytes('IHDR', encodeIhdr({ ...header, interlace: 0 }))];
    let chunk = await input.next();
    for (; chunk !== null && chunk.type !== 'IDAT'; chunk = await input.next()) {
      if (chunk.type === 'IHDR' || chunk.type === 'IEND') throw input.corrupt(`unexpected ${chunk.type} chunk`);
      if (PIXEL_CHUNKS.has(chunk.type) && chunk.length <= 768) head.push(chunkBytes(chunk.type, await input.data(chunk)));
      else input.skip(chunk);
    }
    if (chunk === null) throw input.corrupt('no image data (IDAT) before the end of the file');
    const rows = new RowAssembler(header, rawFile, 1, (detail) => input.corrupt(detail), {
      // Read to the end before the last rows go: the reader has the whole image once it has them.
      beforeLast: async (after) => {
        if (after === null || (await skipChunksUntil(input, 'IEND', after)) === null) throw input.corrupt('truncated: no IEND chunk');
      },
      // asPng copies each batch before it asks for the next.
      reuseBatch: true,
    });
    let bytes = 0;
    /** The last chunk's buffer, for the next once `out` has written it. */
    let spare: Buffer | undefined;
    /** A chunk of `length` data bytes, filled by `fill` at an offset; returns it framed, CRC included. */
    const framed = (type: string, length: number, fill: (chunk: Buffer, at: number) => number): Buffer => {
      // One buffer goes round while the pipe keeps up: once `out` holds nothing, it has let go of the last one.
      const size = length + 12;
      if (spare === undefined || spare.length < size || out.writableLength > 0) spare = Buffer.allocUnsafe(size);
      const chunk = spare.subarray(0, size);
      chunk.writeUInt32BE(length, 0);
      chunk.write(type, 4, 'latin1');
      if (fill(chunk, 8) !== 8 + length) throw new Error(`${type} chunk filled short`);
      chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + length)), 8 + length);
      bytes += size;
      return chunk;
    };
    // Stored blocks: the bytes only cross a pipe, so compressing them would cost CPU for nothing (zlib-stored.ts).
    async function* asPng(batches: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      const stored = new StoredZlibStream();
      const first = Buffer.concat(head);
      bytes += first.length;
      yield first;
      for await (const batch of batches) yield framed('IDAT', stored.size(batch.length), (c, at) => stored.wrap(batch, c, at));
      yield framed('IDAT', stored.endSize(), (c, at) => stored.end(c, at));
      yield framed('IEND', 0, (_, at) => at);
    }
    await decodeImageData(input, chunk, (next) => rows.setAfter(next), rows, asPng, out);
    return { header, rawBytes: rows.rawBytes, outputBytes: bytes };
  } finally {
    await Promise.allSettled([input.close(), rawFile?.close()]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** One whole chunk: length, type, data, CRC. */
function chunkBytes(type: string, data: Buffer): Buffer {
  return Buffer.concat([chunkHead(type, data.length), data, crcBytes(crc32(data, crc32(type)))]);
}

async function readInterlacedHeader(input: PngChunkReader, inputPath: string): Promise<PngHeader> {
  await input.signature();
  const ihdr = await input.next();
  if (ihdr?.type !== 'IHDR') throw input.corrupt('first chunk is not IHDR');
  const header = parseIhdr(await input.data(ihdr), (detail) => input.corrupt(detail));
  if (header.interlace !== 1) throw new Error(`${inputPath} is not interlaced`);
  return header;
}

/** Checks each chunk as copyChunksUntil does, and copies none. */
async function skipChunksUntil(input: PngChunkReader, stop: 'IDAT' | 'IEND', first?: ChunkHeader): Promise<ChunkHeader | null> {
  for (let chunk = first ?? (await input.next()); chunk !== null; chunk = await input.next()) {
    if (chunk.type === stop) return chunk;
    if (chunk.type === 'IHDR' || chunk.type === 'IDAT' || chunk.type === 'IEND') throw input.corrupt(`unexpected ${chunk.type} chunk`);
    input.skip(chunk);
  }
  return null;
}

/**
 * Copies (or drops) chunks until one of type `stop`, which is returned unread;
 * null at end of file. A chunk that may only come before or after, or an IDAT
 * run that is interrupted, is damage.
 */
async function copyChunksUntil(input: PngChunkReader, out: BufferedWriter, stop: 'IDAT' | 'IEND', first?: ChunkHeader): Promise<ChunkHeader | null> {
  for (let chunk = first ?? (await input.next()); chunk !== null; chunk = await input.next()) {
    if (chunk.type === stop) return chunk;
    if (chunk.type === 'IHDR' || chunk.type === 'IDAT' || chunk.type === 'IEND') {
      throw input.corrupt(`unexpected ${chunk.type} chunk`);
    }
    if (!keepChunk(chunk.type)) {
      input.skip(chunk);
      continue;
    }
    await out.write(chunkHead(chunk.type, chunk.length));
    let crc = crc32(chunk.type);
    for await (const piece of input.pieces(chunk)) {
      crc = crc32(piece, crc);
      await out.write(piece);
    }
    await out.write(crcBytes(crc));
  }
  return null;
}

/**
 * IDAT chunks -> inflate -> output rows (RowAssembler) -> `sinks` (a stream, or a transform and
 * its consumer), as one pipeline. `onAfter` gets the chunk after the IDATs (null at end of file)
 * as soon as it is read, which is before the inflated data ends.
 */
async function decodeImageData(
  input: PngChunkReader,
  first: ChunkHeader,
  onAfter: (chunk: ChunkHeader | null) => void,
  rows: RowAssembler,
  ...sinks: Array<NodeJS.ReadWriteStream | Writable | ((source: AsyncIterable<Buffer>) => AsyncIterable<Buffer> | Promise<void>)>
): Promise<void> {
  async function* compressed(): AsyncGenerator<Buffer> {
    let chunk: ChunkHeader | null = first;
    while (chunk?.type === 'IDAT') {
      // Once every row is decoded, the rest is skipped unread: a stream that inflates forever cannot hold us.
      if (rows.decoded) input.skip(chunk);
      else for await (const piece of input.pieces(chunk)) yield Buffer.from(piece); // the piece is a view into the reader's buffer
      chunk = await input.next();
    }
    onAfter(chunk);
  }
  try {
    await pipeline(
      Readable.from(compressed(), { highWaterMark: 2 }),
      // A zlib stream that stops early is not an error here: whether every row arrived is checked by the assembler.
      createInflate({ finishFlush: constants.Z_SYNC_FLUSH, chunkSize: 256 * 1024 }),
      (inflated: AsyncIterable<Buffer>) => rows.assemble(inflated),
      ...(sinks as [Writable]), // pipeline's types take no spread of mixed stages
    );
  } catch (err) {
    // zlib's own errors carry Z_* codes; the sink's (a full disk, a closed pipe) stay what they are.
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw input.corrupt(`invalid compressed image data: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    throw err;
  }
}

/** Bytes of output rows handed on at once. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Cuts the inflated stream into pass rows and unfilters each against the previous row of its
 * pass; keeps passes 1-6 in the temp file and builds output rows (see the top of this file),
 * handed on in batches of whole rows, each row `prefix` zero bytes (PNG's filter type None)
 * before its pixels.
 */
class RowAssembler {
  /** Every row of every pass has been decoded. */
  decoded = false;
  private pass = -1;
  private row = 0;
  private filled = 0;
  private current: Buffer;
  private previous: Buffer;
  private readonly passes: Adam7Pass[];
  private readonly bpp: number;
  private readonly bits: number;
  /** Pass 7 (index 6): its rows become odd output rows as they come; -1 when it is empty (one row). */
  private readonly live: number;
  private readonly raw: BufferedWriter;
  private readers: Array<BufferedReader | undefined> | undefined;
  private readonly rowPasses: number[][];
  private readonly rowLength: number;
  private nextY = 0;
  private batch: Buffer;
  private used = 0;
  private after: ChunkHeader | null = null;

  constructor(
    private readonly header: PngHeader,
    private readonly rawFile: FileHandle,
    private readonly prefix: 0 | 1,
    private readonly corrupt: (detail: string) => Error,
    private readonly hooks: {
      beforeLast?: (after: ChunkHeader | null) => Promise<void>;
      /** Hand on the same batch buffer every time: for a consumer that copies it before it asks for the next. */
      reuseBatch?: boolean;
    } = {},
  ) {
    this.passes = adam7Passes(header);
    const longest = Math.max(...this.passes.map((p) => p.rowBytes));
    this.current = Buffer.alloc(1 + longest);
    this.previous = Buffer.alloc(1 + longest);
    this.bits = bitsPerPixel(header);
    this.bpp = Math.max(1, this.bits >> 3);
    this.live = isEmpty(this.passes[6]!) ? -1 : 6;
    this.raw = new BufferedWriter(rawFile);
    // Every pass's yStart is below its yStep, which divides 8: the passes of a row depend on y mod 8 only.
    this.rowPasses = Array.from({ length: 8 }, (_, m) => passesForRow(this.passes, m));
    this.rowLength = prefix + Math.ceil((header.width * this.bits) / 8);
    this.batch = this.newBatch();
    this.nextPass();
  }

  /** Bytes of pass rows written to the temp file. */
  get rawBytes(): number {
    return this.raw.position;
  }

  /** The chunk after the image data, for `beforeLast`. */
  setAfter(chunk: ChunkHeader | null): void {
    this.after = chunk;
  }

  async *assemble(inflated: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const data of inflated) yield* this.consume(data);
    if (!this.decoded) throw this.corrupt('truncated: the image data ends before the last row');
    yield* this.rowsThrough(this.header.height - 1, null);
    await this.hooks.beforeLast?.(this.after);
    if (this.used > 0) yield this.batch.subarray(0, this.used);
  }

  private async *consume(data: Buffer): AsyncGenerator<Buffer> {
    let offset = 0;
    while (offset < data.length && !this.decoded) {
      const pass = this.passes[this.pass]!;
      const need = 1 + pass.rowBytes;
      const n = Math.min(need - this.filled, data.length - offset);
      data.copy(this.current, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled < need) return;
      const row = this.current.subarray(1, need);
      if (!unfilterRow(this.current[0]!, row, this.previous.subarray(1, need), this.bpp)) {
        throw this.corrupt(`unknown row filter type ${this.current[0]}`);
      }
      if (this.pass === this.live) yield* this.rowsThrough(pass.yStart + this.row * pass.yStep, row);
      else await this.raw.write(row);
      [this.current, this.previous] = [this.previous, this.current];
      this.filled = 0;
      if (++this.row === pass.height) this.nextPass();
    }
  }

  /** Output rows up to `last`, whose live-pass row is `liveRow` (null: it has none). */
  private async *rowsThrough(last: number, liveRow: Buffer | null): AsyncGenerator<Buffer> {
    const readers = this.readers ?? (await this.openReaders());
    for (; this.nextY <= last; this.nextY++) {
      const y = this.nextY;
      const out = this.batch.subarray(this.used, this.used + this.rowLength);
      out.fill(0, 0, this.bits < 8 ? this.rowLength : this.prefix);
      const pixels = out.subarray(this.prefix);
      for (const p of this.rowPasses[y % 8]!) {
        const src = p === this.live ? liveRow : await readers[p]!.take(this.passes[p]!.rowBytes);
        if (src === null || (p === this.live && y !== last)) throw new Error(`pass ${p + 1} data ended early at row ${y}`);
        scatterRow(src, this.passes[p]!, pixels, this.bits);
      }
      this.used += this.rowLength;
      if (this.used + this.rowLength > this.batch.length) {
        yield this.batch.subarray(0, this.used);
        // Unless the consumer copies it, it may still hold it: the next batch is a new buffer.
        if (!this.hooks.reuseBatch) this.batch = this.newBatch();
        this.used = 0;
      }
    }
  }

  /** Passes 1-6 are complete in the temp file: one reader per pass, each at its first row. */
  private async openReaders(): Promise<Array<BufferedReader | undefined>> {
    await this.raw.flush();
    const readers: Array<BufferedReader | undefined> = [];
    let offset = 0;
    for (const [i, pass] of this.passes.entries()) {
      readers.push(isEmpty(pass) || i === this.live ? undefined : new BufferedReader(this.rawFile, offset, 128 * 1024));
      if (i !== this.live) offset += pass.rowBytes * pass.height;
    }
    this.readers = readers;
    return readers;
  }

  private newBatch(): Buffer {
    return Buffer.allocUnsafe(Math.max(1, Math.floor(BATCH_BYTES / this.rowLength)) * this.rowLength);
  }

  private nextPass(): void {
    do this.pass++;
    while (this.pass < this.passes.length && isEmpty(this.passes[this.pass]!));
    this.decoded = this.pass === this.passes.length;
    this.row = 0;
    this.previous.fill(0); // the first row of a pass is filtered against zeros
  }
}
