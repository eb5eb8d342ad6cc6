/**
 * A band of a baseline JPEG as a JPEG of its own, without decoding the rows above it
 * (docs/split-jobs.md, "How a band reads its rows").
 *
 * The entropy-coded data of a baseline JPEG without restart markers is one bit stream; a band's
 * MCU rows are a stretch of it, and what a decoder needs to start there is the bit position and
 * the DC predictions. `indexJpegSlices` (jpeg-slice-index.ts) finds both for every band in one pass
 * of Huffman decoding (no dequantising, no IDCT) over the whole file, done once by the tile job. `writeJpegSlice`
 * then makes the band's JPEG from the file's header (its SOF height changed) and the band's bytes:
 *
 * - one MCU row above the band, decoded for real: libjpeg's "fancy" chroma upsampling reads the
 *   chroma row above a pixel row, so the band's first rows come out as in the whole image;
 * - above that, one made-up MCU row whose blocks carry only DC differences (and an end-of-block),
 *   chosen to bring the DC predictions from 0 to those the real row starts from; its pixels,
 *   and those of the real row, are cropped away (`cropTop`);
 * - one MCU row below the band for the same upsampling (except for the last band, which ends
 *   where the image ends, at the same height, so its bottom edge is decoded as in the whole image).
 *
 * The band's bits are copied shifted to wherever the made-up row ends (unstuffed and stuffed
 * again), so the decoded coefficients are the original's, and the band's pixels equal the whole
 * image's rows (test/tiling-jpeg-slice.test.ts compares them). JPEGs this does not cover
 * (progressive, arithmetic, 12-bit, restart intervals, several scans, made-up rows that the
 * file's Huffman tables cannot express) get null, and their bands decode the rows above instead.
 */
import { open } from 'node:fs/promises';
import { BitWriter, EncodeTable, type HuffmanSpec } from './jpeg-huffman.js';
import { DHT, DRI, EOI, SOF0, SOF1, SOS, isSof, parseDht, parseDri, parseSof, parseSos, type JpegFrame, type ScanHeader } from './jpeg-markers.js';

/** Where one band's JPEG comes from in the original. */
export interface JpegSlice {
  /** File offset of the byte holding the first bit of the real MCU row above the band (the band's first row for band 0). */
  startByte: number;
  /** That bit, counted from the byte's most significant bit (0..7). */
  startBit: number;
  /** File offset just past the byte holding the band's (or its margin row's) last bit. */
  endByte: number;
  /** DC predictions at the start bit, per scan component. */
  dc: number[];
  /** Rows of the made-up and real rows above the band: the slice's pixel rows before the band's first. */
  cropTop: number;
  /** The slice JPEG's height (its SOF's). */
  height: number;
}

export interface JpegSliceIndex {
  /** Bytes of the original from SOI to the end of the SOS segment: every slice's header. */
  headerBytes: number;
  slices: JpegSlice[];
}

/** What the made-up row and the bit copy need from the header. */
export interface SliceHeader {
  frame: JpegFrame;
  scan: ScanHeader;
  /** Offset of the SOF's height field in the header. */
  sofHeightAt: number;
  headerBytes: number;
  dc: Array<HuffmanSpec | undefined>;
  ac: Array<HuffmanSpec | undefined>;
}

/**
 * The header of a sliceable JPEG at the start of `buf`; null when it cannot be sliced (not baseline,
 * not one scan of every component, restart markers); 'more' when `buf` ends before the scan header.
 */
export function parseSliceHeader(buf: Buffer): SliceHeader | null | 'more' {
  const fail = (detail: string) => new Error(detail);
  if (buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let at = 2;
  let frame: JpegFrame | undefined;
  let sofHeightAt = 0;
  const dc: Array<HuffmanSpec | undefined> = [];
  const ac: Array<HuffmanSpec | undefined> = [];
  try {
    while (at + 4 <= buf.length) {
      if (buf[at] !== 0xff) return null;
      const marker = buf[at + 1]!;
      if (marker === 0xff) {
        at += 1;
        continue;
      }
      const length = buf.readUInt16BE(at + 2);
      const end = at + 2 + length;
      if (length < 2) return null;
      if (end > buf.length) return 'more';
      const payload = buf.subarray(at + 4, end);
      if (isSof(marker)) {
        if (marker !== SOF0 && marker !== SOF1) return null; // progressive, lossless, arithmetic
        frame = parseSof(marker, payload, fail);
        if (frame.precision !== 8) return null;
        sofHeightAt = at + 5;
      } else if (marker === DHT) {
        for (const t of parseDht(payload, fail)) (t.tc === 0 ? dc : ac)[t.th] = t.spec;
      } else if (marker === DRI) {
        if (parseDri(payload, fail) !== 0) return null;
      } else if (marker === SOS) {
        if (!frame || frame.height === 0) return null;
        const scan = parseSos(payload, frame, fail);
        // One scan with every component (the usual baseline file); a single component is a grey image.
        if (scan.components.length !== frame.components.length || scan.ss !== 0 || scan.se !== 63 || scan.ah !== 0 || scan.al !== 0) return null;
        if (frame.components.length === 1 && (frame.components[0]!.h !== 1 || frame.components[0]!.v !== 1)) return null;
        if (scan.components.some((c) => !dc[c.td] || !ac[c.ta])) return null;
        return { frame, scan, sofHeightAt, headerBytes: end, dc, ac };
      } else if (marker === EOI) {
        return null;
      }
      at = end;
    }
  } catch {
    return null;
  }
  return 'more';
}

/** MCU size and counts of a frame (T.81 A.2: a single-component scan's MCU is one 8x8 block). */
export function mcuGeometry(frame: JpegFrame): { mcuHeight: number; mcusPerRow: number; mcuRows: number } {
  const hmax = Math.max(...frame.components.map((c) => c.h));
  const vmax = Math.max(...frame.components.map((c) => c.v));
  const [w, h] = frame.components.length === 1 ? [8, 8] : [8 * hmax, 8 * vmax];
  return { mcuHeight: h, mcusPerRow: Math.ceil(frame.width / w), mcuRows: Math.ceil(frame.height / h) };
}

/** Blocks of each scan component in one MCU. */
export function blocksPerMcu(header: SliceHeader): number[] {
  const single = header.frame.components.length === 1;
  return header.scan.components.map((c) => (single ? 1 : header.frame.components[c.index]!.h * header.frame.components[c.index]!.v));
}

/** Bytes of the band's data read at a time: the slice is written with a few MB whatever the band's size. */
const COPY_CHUNK = 1024 * 1024;

/**
 * Writes the band's JPEG to `outPath`: `header` (the original's first `headerBytes` bytes) with its SOF
 * height set to the slice's, the made-up MCU row (not for band 0), the band's bits from `entropyPath`
 * (the original's bytes `startByte..endByte`), EOI. False when the file's Huffman tables cannot
 * express the made-up row (then the band decodes the rows above instead).
 */
export async function writeJpegSlice(header: Buffer, entropyPath: string, slice: JpegSlice, outPath: string): Promise<boolean> {
  const parsed = parseSliceHeader(header);
  if (!parsed || parsed === 'more' || parsed.headerBytes !== header.length) return false;
  const head = Buffer.from(header);
  head.writeUInt16BE(slice.height, parsed.sofHeightAt);
  // Band 0 starts where the scan does, from predictions of 0: no made-up row.
  const bits = slice.cropTop === 0 ? new BitWriter(2 * COPY_CHUNK + 16) : madeUpRow(parsed, slice.dc, 2 * COPY_CHUNK + 16);
  if (!bits) return false;
  const input = await open(entropyPath, 'r');
  const output = await open(outPath, 'w');
  try {
    await output.write(head);
    await output.write(bits.take());
    const chunk = Buffer.alloc(COPY_CHUNK);
    const copier = new BitCopier(slice.startBit);
    for (let at = 0; ; ) {
      const { bytesRead } = await input.read(chunk, 0, COPY_CHUNK, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      copier.copy(chunk.subarray(0, bytesRead), bits);
      await output.write(bits.take());
    }
    bits.padToByte();
    bits.out[bits.used++] = 0xff;
    bits.out[bits.used++] = EOI;
    await output.write(bits.take());
  } finally {
    await output.close();
    await input.close();
  }
  return true;
}

/** Appends stuffed entropy data, from bit `firstBit` of its first byte on, to a BitWriter (which stuffs again), a chunk at a time. */
class BitCopier {
  private first = true;
  /** The previous chunk ended with 0xFF: the 0x00 that stuffs it starts this one. */
  private skipZero = false;

  constructor(private readonly firstBit: number) {}

  copy(data: Uint8Array, out: BitWriter): void {
    let i = 0;
    if (this.skipZero && data[0] === 0) i = 1;
    this.skipZero = false;
    while (i < data.length) {
      const b = data[i++]!;
      if (b === 0xff) {
        if (i === data.length) this.skipZero = true;
        else if (data[i] === 0) i++;
      }
      if (this.first) {
        this.first = false;
        out.put(b, 8 - this.firstBit);
      } else {
        out.put(b, 8);
      }
    }
  }
}

/**
 * The made-up MCU row: every block a DC difference and an end-of-block, the differences of each
 * component adding up to its prediction `dc[s]`, in a writer with `roomAfter` bytes to spare.
 */
function madeUpRow(header: SliceHeader, dc: number[], roomAfter: number): BitWriter | null {
  const { mcusPerRow } = mcuGeometry(header.frame);
  const perMcu = blocksPerMcu(header);
  const enc = header.scan.components.map((c) => ({ dc: new EncodeTable(header.dc[c.td]!), ac: new EncodeTable(header.ac[c.ta]!) }));
  const steps: number[][] = [];
  for (let s = 0; s < enc.length; s++) {
    const dcSizes = enc[s]!.dc.size;
    if (enc[s]!.ac.size[0] === 0) return null; // no end-of-block code
    const plan = dcSteps(dc[s]!, mcusPerRow * perMcu[s]!, (category) => category <= 11 && dcSizes[category]! > 0);
    if (!plan) return null;
    steps.push(plan);
  }
  const blocks = mcusPerRow * perMcu.reduce((a, b) => a + b, 0);
  // Each made-up block: at most 16 + 11 + 16 bits, stuffing at most doubles a byte; then room for the copy.
  const out = new BitWriter(Math.ceil((blocks * 43 * 2) / 8) + roomAfter);
  const at = perMcu.map(() => 0);
  for (let m = 0; m < mcusPerRow; m++) {
    for (let s = 0; s < enc.length; s++) {
      const { dc: dcTable, ac: acTable } = enc[s]!;
      for (let b = 0; b < perMcu[s]!; b++) {
        const diff = steps[s]![at[s]!++]!;
        const size = category(diff);
        out.put(dcTable.code[size]!, dcTable.size[size]!);
        if (size > 0) out.put(diff > 0 ? diff : diff + (1 << size) - 1, size);
        out.put(acTable.code[0]!, acTable.size[0]!);
      }
    }
  }
  return out;
}

/** Bits needed for |v| (T.81 F.1.2.1's SSSS). */
function category(v: number): number {
  let a = Math.abs(v);
  let n = 0;
  while (a > 0) {
    n++;
    a >>= 1;
  }
  return n;
}

/**
 * `count` DC differences, each of a category the table has, adding up to `target`: the largest
 * usable step towards it each time, then zeros. Null when the table does not allow it.
 */
export function dcSteps(target: number, count: number, has: (category: number) => boolean): number[] | null {
  const steps: number[] = [];
  let left = target;
  for (let i = 0; i < count; i++) {
    let step = 0;
    if (left !== 0) {
      let size = category(left);
      if (has(size)) {
        step = left;
      } else {
        while (size > 1 && !has(size - 1)) size--;
        if (size <= 1) return null;
        step = Math.sign(left) * ((1 << (size - 1)) - 1);
      }
    } else if (!has(0)) {
      return null;
    }
    steps.push(step);
    left -= step;
  }
  return left === 0 ? steps : null;
}
