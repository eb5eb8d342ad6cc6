/**
 * PNG at the chunk level: the header, reading chunks one after another with
 * every CRC checked, and writing chunks. Nothing here holds more than one
 * buffer of a chunk's data at a time, whatever length the file claims.
 */
import { crc32 } from 'node:zlib';
import { open, type FileHandle } from 'node:fs/promises';
import { CorruptImageError } from '../errors.js';
import { BufferedReader, EndOfFileError, type BufferedWriter } from './buffered-file.js';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PIECE = 256 * 1024;

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA */
  colourType: number;
  /** 0 none, 1 Adam7 */
  interlace: number;
}

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

export function bitsPerPixel(h: PngHeader): number {
  return CHANNELS[h.colourType]! * h.bitDepth;
}

export interface ChunkHeader {
  type: string;
  length: number;
}

/** Reads a PNG's chunks in order. Damage of any kind becomes a CorruptImageError naming the file. */
export class PngChunkReader {
  private readonly reader: BufferedReader;

  private constructor(private readonly path: string, private readonly file: FileHandle) {
    this.reader = new BufferedReader(file, 0);
  }

  static async open(path: string): Promise<PngChunkReader> {
    return new PngChunkReader(path, await open(path, 'r'));
  }

  close(): Promise<void> {
    return this.file.close();
  }

  corrupt(detail: string, cause?: unknown): CorruptImageError {
    return new CorruptImageError(this.path, detail, cause);
  }

  async signature(): Promise<void> {
    const sig = await this.bytes(PNG_SIGNATURE.length, 'signature');
    if (!sig.equals(PNG_SIGNATURE)) throw this.corrupt('not a PNG signature');
  }

  /** The next chunk's length and type, or null at end of file. */
  async next(): Promise<ChunkHeader | null> {
    const head = await this.guard(() => this.reader.take(8));
    if (head === null) return null;
    const length = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    if (length > 0x7fffffff || !/^[A-Za-z]{4}$/.test(type)) throw this.corrupt(`invalid chunk header at byte ${this.reader.position - 8}`);
    return { type, length };
  }

  /** A small chunk's whole data (IHDR, PLTE), CRC checked. A copy the caller may keep. */
  async data(chunk: ChunkHeader): Promise<Buffer> {
    const data = Buffer.from(await this.bytes(chunk.length, chunk.type));
    await this.checkCrc(chunk, crc32(data, crc32(chunk.type)));
    return data;
  }

  /** A chunk's data in pieces of at most 256 KiB, CRC checked once the last piece is read. Views: copy to keep. */
  async *pieces(chunk: ChunkHeader): AsyncGenerator<Buffer> {
    let crc = crc32(chunk.type);
    let left = chunk.length;
    while (left > 0) {
      const piece = await this.guard(() => this.reader.takeUpTo(Math.min(left, PIECE)));
      crc = crc32(piece, crc);
      left -= piece.length;
      yield piece;
    }
    await this.checkCrc(chunk, crc);
  }

  /** Passes over a chunk's data and CRC without reading them. */
  skip(chunk: ChunkHeader): void {
    this.reader.seek(this.reader.position + chunk.length + 4);
  }

  private async checkCrc(chunk: ChunkHeader, computed: number): Promise<void> {
    const stored = (await this.bytes(4, `${chunk.type} CRC`)).readUInt32BE(0);
    if (stored !== computed) throw this.corrupt(`${chunk.type} chunk CRC mismatch`);
  }

  private async bytes(n: number, what: string): Promise<Buffer> {
    const b = await this.guard(() => this.reader.take(n));
    if (b === null) throw this.corrupt(`file ends before its ${what}`);
    return b;
  }

  private async guard<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof EndOfFileError) throw this.corrupt(`truncated: ${err.message}`, err);
      throw err;
    }
  }
}

export function parseIhdr(data: Buffer, corrupt: (detail: string) => Error): PngHeader {
  if (data.length !== 13) throw corrupt('IHDR chunk has the wrong length');
  const h: PngHeader = {
    width: data.readUInt32BE(0),
    height: data.readUInt32BE(4),
    bitDepth: data[8]!,
    colourType: data[9]!,
    interlace: data[12]!,
  };
  const valid =
    h.width > 0 && h.height > 0 && h.width <= 0x7fffffff && h.height <= 0x7fffffff &&
    DEPTHS[h.colourType]?.includes(h.bitDepth) === true &&
    data[10] === 0 && data[11] === 0 && (h.interlace === 0 || h.interlace === 1);
  if (!valid) throw corrupt(`invalid IHDR (${h.width}x${h.height}, depth ${h.bitDepth}, colour type ${h.colourType})`);
  return h;
}

export function encodeIhdr(h: PngHeader): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(h.width, 0);
  data.writeUInt32BE(h.height, 4);
  data[8] = h.bitDepth;
  data[9] = h.colourType;
  data[12] = h.interlace;
  return data;
}

/** Writes one whole chunk: length, type, data, CRC. */
export async function writeChunk(out: BufferedWriter, type: string, data: Uint8Array): Promise<void> {
  await out.write(chunkHead(type, data.length));
  await out.write(data);
  await out.write(crcBytes(crc32(data, crc32(type))));
}

export function chunkHead(type: string, length: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(length, 0);
  head.write(type, 4, 'latin1');
  return head;
}

export function crcBytes(crc: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0, 0);
  return b;
}
