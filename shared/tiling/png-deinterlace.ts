/**
 * Rewrites an interlaced (Adam7) PNG as a non-interlaced one in bounded memory,
 * so libvips can then read it top to bottom instead of decoding it whole
 * (803 MB at 236 MP, docs/memory.md).
 *
 * Phase 1 inflates the image data as a stream, undoes each pass's row filters
 * (a row needs only the previous row of its pass) and appends the raw pass
 * rows to one temp file: the seven passes follow each other in the data, so
 * this is one sequential write. Phase 2 builds each output row from the next
 * row of every pass that holds pixels of it (seven sequential readers on that
 * file) and deflates the rows into IDAT chunks. Memory: a few rows and fixed
 * buffers; disk: the raw pixels once (deleted at the end) plus the new PNG.
 *
 * Every other chunk that matters is copied verbatim in its place (palette,
 * transparency, colour profile, gamma, EXIF...), so the new file decodes to
 * exactly the same pixels and metadata.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, crc32, createDeflate, createInflate } from 'node:zlib';
import { HugemapError } from '../errors.js';
import { BufferedReader, BufferedWriter } from './buffered-file.js';
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
  /** Size of the non-interlaced PNG written. */
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
    await input.signature();
    const ihdr = await input.next();
    if (ihdr?.type !== 'IHDR') throw input.corrupt('first chunk is not IHDR');
    const header = parseIhdr(await input.data(ihdr), (detail) => input.corrupt(detail));
    if (header.interlace !== 1) throw new Error(`${inputPath} is not interlaced`);
    const out = new BufferedWriter(outFile);
    await out.write(PNG_SIGNATURE);
    await writeChunk(out, 'IHDR', encodeIhdr({ ...header, interlace: 0 }));

    let chunk = await copyChunksUntil(input, out, 'IDAT');
    if (chunk === null) throw input.corrupt('no image data (IDAT) before the end of the file');
    const passes = adam7Passes(header);
    const raw = new BufferedWriter(rawFile);
    chunk = await splitPasses(input, chunk, header, passes, raw);
    await raw.flush();
    await joinPasses(header, passes, rawFile, out, level);

    chunk = chunk && (await copyChunksUntil(input, out, 'IEND', chunk));
    if (chunk === null) throw input.corrupt('truncated: no IEND chunk');
    await writeChunk(out, 'IEND', Buffer.alloc(0));
    await out.flush();
    return { header, rawBytes: raw.position, outputBytes: out.position };
  } catch (err) {
    await rm(outputPath, { force: true });
    throw err;
  } finally {
    await Promise.allSettled([input.close(), outFile.close(), rawFile.close()]);
    await rm(rawPath, { force: true });
  }
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

/** Phase 1: IDAT chunks -> inflate -> unfiltered pass rows appended to `raw`. Returns the chunk after the IDATs. */
async function splitPasses(input: PngChunkReader, first: ChunkHeader, header: PngHeader, passes: Adam7Pass[], raw: BufferedWriter): Promise<ChunkHeader | null> {
  const rows = new PassRowDecoder(header, passes, raw, (detail) => input.corrupt(detail));
  let after: ChunkHeader | null = null;
  async function* compressed(): AsyncGenerator<Buffer> {
    let chunk: ChunkHeader | null = first;
    while (chunk?.type === 'IDAT') {
      // Once every row is decoded, the rest is skipped unread: a stream that inflates forever cannot hold us.
      if (rows.done) input.skip(chunk);
      else for await (const piece of input.pieces(chunk)) yield Buffer.from(piece); // the piece is a view into the reader's buffer
      chunk = await input.next();
    }
    after = chunk;
  }
  try {
    await pipeline(
      Readable.from(compressed(), { highWaterMark: 2 }),
      // A zlib stream that stops early is not an error here: whether every row arrived is checked below.
      createInflate({ finishFlush: constants.Z_SYNC_FLUSH, chunkSize: 256 * 1024 }),
      async (inflated: AsyncIterable<Buffer>) => {
        for await (const data of inflated) await rows.consume(data);
      },
    );
  } catch (err) {
    if (err instanceof HugemapError) throw err;
    throw input.corrupt(`invalid compressed image data: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (!rows.done) throw input.corrupt('truncated: the image data ends before the last row');
  return after;
}

/** Cuts the inflated stream into pass rows, unfilters each against the previous row of its pass, and writes it out. */
class PassRowDecoder {
  done = false;
  private pass = -1;
  private row = 0;
  private filled = 0;
  private current: Buffer;
  private previous: Buffer;
  private readonly bpp: number;

  constructor(
    header: PngHeader,
    private readonly passes: Adam7Pass[],
    private readonly raw: BufferedWriter,
    private readonly corrupt: (detail: string) => Error,
  ) {
    const longest = Math.max(...passes.map((p) => p.rowBytes));
    this.current = Buffer.alloc(1 + longest);
    this.previous = Buffer.alloc(1 + longest);
    this.bpp = Math.max(1, bitsPerPixel(header) >> 3);
    this.nextPass();
  }

  async consume(data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length && !this.done) {
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
      await this.raw.write(row);
      [this.current, this.previous] = [this.previous, this.current];
      this.filled = 0;
      if (++this.row === pass.height) this.nextPass();
    }
  }

  private nextPass(): void {
    do this.pass++;
    while (this.pass < this.passes.length && isEmpty(this.passes[this.pass]!));
    this.done = this.pass === this.passes.length;
    this.row = 0;
    this.previous.fill(0); // the first row of a pass is filtered against zeros
  }
}

/** Phase 2: raw pass rows -> full rows (filter type 0) -> deflate -> IDAT chunks. */
async function joinPasses(header: PngHeader, passes: Adam7Pass[], rawFile: FileHandle, out: BufferedWriter, level: number): Promise<void> {
  const bits = bitsPerPixel(header);
  const readers: Array<BufferedReader | undefined> = [];
  let offset = 0;
  for (const pass of passes) {
    readers.push(isEmpty(pass) ? undefined : new BufferedReader(rawFile, offset, 128 * 1024));
    offset += pass.rowBytes * pass.height;
  }
  // Every pass's yStart is below its yStep, which divides 8: the passes of a row depend on y mod 8 only.
  const rowPasses = Array.from({ length: 8 }, (_, m) => passesForRow(passes, m));
  const rowLength = 1 + Math.ceil((header.width * bits) / 8);
  const batchRows = Math.max(1, Math.floor((1024 * 1024) / rowLength));

  async function* rows(): AsyncGenerator<Buffer> {
    let batch = Buffer.allocUnsafe(batchRows * rowLength);
    let used = 0;
    for (let y = 0; y < header.height; y++) {
      const row = batch.subarray(used, used + rowLength);
      row.fill(0, 0, bits < 8 ? rowLength : 1);
      const pixels = row.subarray(1);
      for (const p of rowPasses[y % 8]!) {
        const src = await readers[p]!.take(passes[p]!.rowBytes);
        if (src === null) throw new Error(`pass ${p + 1} temp data ended early at row ${y}`);
        scatterRow(src, passes[p]!, pixels, bits);
      }
      used += rowLength;
      if (used === batch.length) {
        yield batch; // handed to zlib, which may still hold it: the next batch is a new buffer
        batch = Buffer.allocUnsafe(batchRows * rowLength);
        used = 0;
      }
    }
    if (used > 0) yield batch.subarray(0, used);
  }

  await pipeline(
    Readable.from(rows(), { highWaterMark: 1 }),
    createDeflate({ level, chunkSize: 256 * 1024 }),
    async (compressed: AsyncIterable<Buffer>) => {
      for await (const data of compressed) await writeChunk(out, 'IDAT', data);
    },
  );
}
