/**
 * JPEG at the marker level (ITU T.81 Annex B): a byte window over the file
 * that finds markers and reads segments, and parsers for the segments the
 * progressive rewrite needs (SOF, DHT, DQT, DRI, SOS). A segment is at most
 * 64 KiB, so nothing here holds more than that plus one fixed buffer, whatever
 * the file claims. Entropy-coded data is read through the same window by the
 * bit reader in jpeg-huffman.ts.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { CorruptImageError } from '../errors.js';
import type { ByteSink } from './buffered-file.js';
import type { HuffmanSpec } from './jpeg-huffman.js';

export const SOI = 0xd8;
export const EOI = 0xd9;
export const SOS = 0xda;
export const DQT = 0xdb;
export const DNL = 0xdc;
export const DRI = 0xdd;
export const DHT = 0xc4;
export const DAC = 0xcc;
export const COM = 0xfe;
export const SOF0 = 0xc0;
export const SOF1 = 0xc1;
export const SOF2 = 0xc2;
export const RST0 = 0xd0;

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
export function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== DHT && marker !== 0xc8 && marker !== DAC;
}

/** Progressive frames: SOF2 (Huffman), SOF6 (differential), SOF10 and SOF14 (arithmetic). */
export function isProgressiveSof(marker: number): boolean {
  return marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
}

export function isRst(marker: number): boolean {
  return marker >= RST0 && marker <= RST0 + 7;
}

export function isAppOrCom(marker: number): boolean {
  return (marker >= 0xe0 && marker <= 0xef) || marker === COM;
}

export function markerName(marker: number): string {
  return `0xFF${marker.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * A window of the file through one buffer. The bit reader works directly on
 * `buf[pos..end)`, so these three are public; `ensure` refills the window.
 */
export class JpegReader {
  buf: Buffer;
  pos = 0;
  end = 0;
  /** The file ended: `end` is the last byte there is. */
  eof = false;
  /** File offset of buf[end]. */
  private filePos: number;

  constructor(private readonly file: FileHandle, readonly path: string, position = 0, bufferSize = 1024 * 1024) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.filePos = position;
  }

  static async open(path: string): Promise<JpegReader> {
    return new JpegReader(await open(path, 'r'), path);
  }

  close(): Promise<void> {
    return this.file.close();
  }

  corrupt(detail: string, cause?: unknown): CorruptImageError {
    return new CorruptImageError(this.path, detail, cause);
  }

  /** File offset of buf[pos]. */
  get position(): number {
    return this.filePos - (this.end - this.pos);
  }

  seek(position: number): void {
    this.pos = this.end = 0;
    this.filePos = position;
    this.eof = false;
  }

  /** True when at least n bytes are in the window (reading more if needed); false only at end of file. */
  async ensure(n: number): Promise<boolean> {
    if (this.end - this.pos >= n) return true;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(n);
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.pos, this.end);
    }
    this.end -= this.pos;
    this.pos = 0;
    while (this.end < n && !this.eof) {
      const { bytesRead } = await this.file.read(this.buf, this.end, this.buf.length - this.end, this.filePos);
      if (bytesRead === 0) this.eof = true;
      this.end += bytesRead;
      this.filePos += bytesRead;
    }
    return this.end - this.pos >= n;
  }

  async expectSoi(): Promise<void> {
    if (!(await this.ensure(2)) || this.buf[this.pos] !== 0xff || this.buf[this.pos + 1] !== SOI) throw this.corrupt('does not start with a JPEG SOI marker');
    this.pos += 2;
  }

  /**
   * The code of the next marker, or null at end of file. Bytes before it are
   * skipped as libjpeg does (it only warns about them); inside entropy-coded
   * data (`inScan`) stuffed 0xFF00 bytes and RSTn markers are data, not ends.
   */
  async nextMarker(inScan: boolean): Promise<number | null> {
    for (;;) {
      const code = this.markerInWindow(inScan);
      if (code !== undefined) return code;
      if (!(await this.ensure(2))) return null;
    }
  }

  /**
   * nextMarker without reading the file: the marker's code when the window holds it, undefined
   * when more of the file is needed (the bytes skipped so far stay skipped). A scan with a short
   * restart interval looks for a marker every few MCUs, and an await for each one was most of
   * the rewrite's time (docs/performance.md, "Hard inputs").
   */
  markerInWindow(inScan: boolean): number | undefined {
    while (this.end - this.pos >= 2) {
      // Usually the marker is right here (a scan's data ends at its restart marker): no search.
      if (this.buf[this.pos] !== 0xff) {
        const found = this.buf.subarray(this.pos, this.end - 1).indexOf(0xff);
        if (found < 0) {
          this.pos = this.end - 1; // the last byte may be the 0xFF of a marker
          return undefined;
        }
        this.pos += found;
      }
      const code = this.buf[this.pos + 1]!;
      if (code === 0xff) {
        this.pos += 1; // fill byte
      } else if (code === 0 || (inScan && isRst(code))) {
        this.pos += 2;
      } else {
        this.pos += 2;
        return code;
      }
    }
    return undefined;
  }

  /** A marker segment's payload (after the length), copied. */
  async segment(marker: number): Promise<Buffer> {
    if (!(await this.ensure(2))) throw this.corrupt(`truncated: the file ends inside a ${markerName(marker)} segment`);
    const length = this.buf.readUInt16BE(this.pos);
    if (length < 2) throw this.corrupt(`${markerName(marker)} segment has an invalid length ${length}`);
    if (!(await this.ensure(length))) throw this.corrupt(`truncated: the file ends inside a ${markerName(marker)} segment`);
    const payload = Buffer.from(this.buf.subarray(this.pos + 2, this.pos + length));
    this.pos += length;
    return payload;
  }
}

/** Writes one marker segment: marker, length, payload. */
export async function writeSegment(out: ByteSink, marker: number, payload: Uint8Array): Promise<void> {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  await out.write(head);
  await out.write(payload);
}

export interface FrameComponent {
  id: number;
  /** Horizontal and vertical sampling factors, 1..4. */
  h: number;
  v: number;
  /** Quantization table slot, 0..3. */
  tq: number;
}

export interface JpegFrame {
  /** The SOFn marker code. */
  marker: number;
  precision: number;
  width: number;
  height: number;
  components: FrameComponent[];
}

/** Parses an SOFn payload. Sizes are checked against the segment, values against T.81's ranges. */
export function parseSof(marker: number, data: Buffer, corrupt: (detail: string) => Error): JpegFrame {
  if (data.length < 6 || data.length !== 6 + 3 * data[5]!) throw corrupt(`${markerName(marker)} frame header has the wrong length`);
  const components: FrameComponent[] = [];
  for (let i = 0; i < data[5]!; i++) {
    const at = 6 + 3 * i;
    const c = { id: data[at]!, h: data[at + 1]! >> 4, v: data[at + 1]! & 15, tq: data[at + 2]! };
    if (c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3) throw corrupt(`component ${c.id} has invalid sampling factors ${c.h}x${c.v} or table ${c.tq}`);
    if (components.some((o) => o.id === c.id)) throw corrupt(`component id ${c.id} appears twice in the frame header`);
    components.push(c);
  }
  const frame = { marker, precision: data[0]!, height: data.readUInt16BE(1), width: data.readUInt16BE(3), components };
  if (components.length === 0) throw corrupt('frame header has no components');
  if (frame.width === 0) throw corrupt('frame header has width 0');
  return frame;
}

export interface DhtTable {
  /** 0 DC, 1 AC */
  tc: number;
  th: number;
  spec: HuffmanSpec;
}

export function parseDht(data: Buffer, corrupt: (detail: string) => Error): DhtTable[] {
  const tables: DhtTable[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 17 > data.length) throw corrupt('DHT segment is too short');
    const tc = data[at]! >> 4;
    const th = data[at]! & 15;
    if (tc > 1 || th > 3) throw corrupt(`DHT defines an invalid table class ${tc} / slot ${th}`);
    const counts = new Uint8Array(17);
    let total = 0;
    for (let l = 1; l <= 16; l++) total += counts[l] = data[at + l]!;
    at += 17;
    if (total > 256 || at + total > data.length) throw corrupt('DHT segment has an invalid symbol count');
    tables.push({ tc, th, spec: { counts, symbols: Uint8Array.from(data.subarray(at, at + total)) } });
    at += total;
  }
  return tables;
}

export interface DqtTable {
  tq: number;
  /** The table's bytes as they appear in the segment (precision byte included), to compare redefinitions. */
  bytes: Buffer;
  /** 0: 8-bit values, 1: 16-bit values. */
  precision: number;
}

export function parseDqt(data: Buffer, corrupt: (detail: string) => Error): DqtTable[] {
  const tables: DqtTable[] = [];
  let at = 0;
  while (at < data.length) {
    const precision = data[at]! >> 4;
    const tq = data[at]! & 15;
    if (precision > 1 || tq > 3) throw corrupt(`DQT defines an invalid table precision ${precision} / slot ${tq}`);
    const size = 1 + 64 * (precision + 1);
    if (at + size > data.length) throw corrupt('DQT segment is too short');
    tables.push({ tq, precision, bytes: Buffer.from(data.subarray(at, at + size)) });
    at += size;
  }
  return tables;
}

export function parseDri(data: Buffer, corrupt: (detail: string) => Error): number {
  if (data.length !== 2) throw corrupt('DRI segment has the wrong length');
  return data.readUInt16BE(0);
}

export interface ScanHeader {
  /** Per scan component: its index in the frame and its DC and AC table slots. */
  components: Array<{ index: number; td: number; ta: number }>;
  /** Spectral selection start and end (zigzag indices). */
  ss: number;
  se: number;
  /** Successive approximation: previous and current point transform. */
  ah: number;
  al: number;
}

export function parseSos(data: Buffer, frame: JpegFrame, corrupt: (detail: string) => Error): ScanHeader {
  const ns = data[0] ?? 0;
  if (ns < 1 || ns > 4 || data.length !== 4 + 2 * ns) throw corrupt('scan header has the wrong length or component count');
  const components: ScanHeader['components'] = [];
  for (let i = 0; i < ns; i++) {
    const id = data[1 + 2 * i]!;
    const index = frame.components.findIndex((c) => c.id === id);
    if (index < 0) throw corrupt(`scan names component ${id}, which the frame does not have`);
    if (components.some((c) => c.index === index)) throw corrupt(`scan names component ${id} twice`);
    const tables = data[2 + 2 * i]!;
    if (tables >> 4 > 3 || (tables & 15) > 3) throw corrupt('scan names an invalid Huffman table slot');
    components.push({ index, td: tables >> 4, ta: tables & 15 });
  }
  const at = 1 + 2 * ns;
  return { components, ss: data[at]!, se: data[at + 1]!, ah: data[at + 2]! >> 4, al: data[at + 2]! & 15 };
}

/**
 * The frame header of a JPEG file, or null when the file is not a JPEG or has
 * no readable frame header before its first scan. Reads only the segments
 * before the SOFn marker.
 */
export async function readJpegFrame(path: string): Promise<JpegFrame | null> {
  const reader = await JpegReader.open(path);
  try {
    await reader.expectSoi();
    for (;;) {
      const marker = await reader.nextMarker(false);
      if (marker === null || marker === SOS || marker === EOI) return null;
      if (isRst(marker) || marker === 0x01) continue;
      const data = await reader.segment(marker);
      if (isSof(marker)) return parseSof(marker, data, (detail) => new Error(detail));
    }
  } catch {
    return null;
  } finally {
    await reader.close();
  }
}
