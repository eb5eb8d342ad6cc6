/**
 * The index pass of JPEG slices (jpeg-slice.ts): one pass of Huffman decoding over a baseline JPEG
 * that notes, for every band of a split, the bit position and DC predictions where its first real
 * MCU row starts and the byte where its last one ends.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { bandAt, type BandPlan } from './band-plan.js';
import { DecodeTable, extend, nextEntropyByte, type EntropyEnd } from './jpeg-huffman.js';
import { blocksPerMcu, mcuGeometry, parseSliceHeader, type JpegSlice, type JpegSliceIndex, type SliceHeader } from './jpeg-slice.js';

const HEADER_READ = 1024 * 1024;
/** Larger headers (huge metadata) are not worth a slice: their bands decode the rows above. */
const MAX_HEADER_BYTES = 16 * HEADER_READ;
/** Bytes kept ahead of the bit reader: more than any MCU can take (jpeg-progressive-scan.ts). */
const MIN_WINDOW = 64 * 1024;

/**
 * Where every band of `plan` starts and ends in the baseline JPEG at `path`, or null when it cannot
 * be sliced (see the module comment) or its data is damaged (the bands then report it as usual).
 */
export async function indexJpegSlices(path: string, plan: BandPlan): Promise<JpegSliceIndex | null> {
  const file = await open(path, 'r');
  try {
    let head = Buffer.alloc(0);
    let header: SliceHeader | null | 'more' = 'more';
    while (header === 'more' && head.length < MAX_HEADER_BYTES) {
      const more = Buffer.alloc(HEADER_READ);
      const { bytesRead } = await file.read(more, 0, HEADER_READ, head.length);
      if (bytesRead === 0) break;
      head = Buffer.concat([head, more.subarray(0, bytesRead)]);
      header = parseSliceHeader(head);
    }
    if (!header || header === 'more' || header.frame.width !== plan.width || header.frame.height !== plan.height) return null;
    const geometry = mcuGeometry(header.frame);
    const bands = Array.from({ length: plan.bands }, (_, i) => bandAt(plan, i));
    if (bands.some((b) => b.top % geometry.mcuHeight !== 0 || (b.top + b.height !== plan.height && b.height % geometry.mcuHeight !== 0))) return null;
    // MCU row -> what to record there: a band's real row above it starts, a band's margin row below it ends.
    const starts = new Map<number, number[]>();
    const ends = new Map<number, number[]>();
    const slices: Array<Partial<JpegSlice>> = bands.map(() => ({}));
    bands.forEach((band, i) => {
      const first = band.top === 0 ? 0 : band.top / geometry.mcuHeight - 1;
      const last = Math.min(geometry.mcuRows, Math.ceil((band.top + band.height) / geometry.mcuHeight) + 1) - 1;
      starts.set(first, [...(starts.get(first) ?? []), i]);
      ends.set(last, [...(ends.get(last) ?? []), i]);
      const sliceTop = band.top === 0 ? 0 : first - 1; // the made-up row
      slices[i]!.cropTop = band.top - sliceTop * geometry.mcuHeight;
      slices[i]!.height = (last === geometry.mcuRows - 1 ? plan.height : (last + 1) * geometry.mcuHeight) - sliceTop * geometry.mcuHeight;
    });
    const reader = new PositionedBits(file, header.headerBytes);
    const tables = header.scan.components.map((c) => ({
      dc: new DecodeTable(header.dc[c.td]!, true, (d) => new Error(d)),
      ac: new DecodeTable(header.ac[c.ta]!, false, (d) => new Error(d)),
    }));
    const blocks = blocksPerMcu(header);
    const pred = new Array<number>(tables.length).fill(0);
    for (let row = 0; row < geometry.mcuRows; row++) {
      for (const i of starts.get(row) ?? []) Object.assign(slices[i]!, { ...reader.position(), dc: [...pred] });
      for (let m = 0; m < geometry.mcusPerRow; m++) {
        if (reader.windowLow()) await reader.refill();
        for (let s = 0; s < tables.length; s++) {
          const t = tables[s]!;
          for (let b = 0; b < blocks[s]!; b++) {
            const size = reader.decode(t.dc);
            if (size > 0) pred[s] = pred[s]! + extend(reader.bits(size), size);
            for (let k = 1; k < 64; ) {
              const rs = reader.decode(t.ac);
              const run = rs >> 4;
              const bits = rs & 15;
              if (bits !== 0) {
                reader.bits(bits);
                k += run + 1;
              } else if (run === 15) {
                k += 16;
              } else {
                break;
              }
            }
          }
        }
      }
      if (reader.overrun) return null;
      for (const i of ends.get(row) ?? []) slices[i]!.endByte = reader.endOfConsumed();
    }
    return { headerBytes: header.headerBytes, slices: slices as JpegSlice[] };
  } catch {
    return null; // damaged data: the band that decodes it reports the error with its code
  } finally {
    await file.close();
  }
}

/**
 * The bit reader of the index pass: EntropyReader's, plus the file offset of each byte in the
 * accumulator, so that the position of the next bit and the end of the bits consumed are known
 * despite byte stuffing.
 */
class PositionedBits {
  private readonly window = { buf: Buffer.alloc(4 * 1024 * 1024), pos: 0, end: 0 };
  /** File offset of window.buf[0]. */
  private windowAt: number;
  private eof = false;
  private acc = 0;
  private nbits = 0;
  /** File offsets of the last bytes loaded into the accumulator (a ring), and how many were loaded. */
  private readonly offsets = new Float64Array(8);
  private loaded = 0;
  private readonly state: EntropyEnd = { fake: 0, ended: false };

  constructor(private readonly file: FileHandle, at: number) {
    this.windowAt = at;
  }

  get overrun(): boolean {
    return this.nbits < this.state.fake;
  }

  windowLow(): boolean {
    return !this.eof && this.window.end - this.window.pos < MIN_WINDOW;
  }

  async refill(): Promise<void> {
    const w = this.window;
    w.buf.copy(w.buf, 0, w.pos, w.end);
    this.windowAt += w.pos;
    w.end -= w.pos;
    w.pos = 0;
    while (w.end < w.buf.length && !this.eof) {
      const { bytesRead } = await this.file.read(w.buf, w.end, w.buf.length - w.end, this.windowAt + w.end);
      if (bytesRead === 0) this.eof = true;
      w.end += bytesRead;
    }
  }

  /** File offset and bit (from the most significant) of the next bit to be read. */
  position(): { startByte: number; startBit: number } {
    if (this.nbits === 0) return { startByte: this.windowAt + this.window.pos, startBit: 0 };
    const back = Math.ceil(this.nbits / 8);
    return { startByte: this.offsets[(this.loaded - back) & 7]!, startBit: (8 - (this.nbits % 8)) % 8 };
  }

  /** File offset just past the last byte any consumed bit came from. */
  endOfConsumed(): number {
    return this.offsets[(this.loaded - Math.floor(this.nbits / 8) - 1) & 7]! + 1;
  }

  private fill(): void {
    while (this.nbits <= 24) {
      const at = this.windowAt + this.window.pos;
      this.acc = (this.acc << 8) | nextEntropyByte(this.window, this.state);
      this.offsets[this.loaded++ & 7] = at;
      this.nbits += 8;
    }
  }

  bits(n: number): number {
    if (this.nbits < n) this.fill();
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  decode(t: DecodeTable): number {
    if (this.nbits < 16) this.fill();
    const hit = t.lookUp((this.acc >>> (this.nbits - 16)) & 0xffff);
    if (hit === 0) throw new Error('invalid Huffman code');
    this.nbits -= hit >>> 8;
    return hit & 0xff;
  }
}
