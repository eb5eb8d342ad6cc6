/**
 * Decodes one progressive scan into the coefficients, as one sequential pass
 * over the MCU rows the scan covers, chunk by chunk as jpeg-coefficient-pipeline.ts
 * hands them over (ITU T.81 G.1.2, following libjpeg's jdphuff.c; pdf.js's
 * jpg.js reads the same way):
 *
 * - DC first: a Huffman-coded difference from the previous block's DC, times 2^Al.
 * - DC refinement: one raw bit per block, bit Al of the DC.
 * - AC first: run/size symbols over Ss..Se, with end-of-band runs that skip
 *   whole blocks.
 * - AC refinement: one correction bit for every coefficient already nonzero,
 *   new coefficients of +-2^Al placed after the given count of still-zero
 *   ones, and end-of-band runs during which only correction bits come.
 *
 * An interleaved scan (DC only, in a progressive file) walks whole MCUs,
 * dummy blocks at the right and bottom edges included; a single-component
 * scan walks only the component's own blocks. Restart markers reset the DC
 * predictions, the end-of-band run and the bit buffer.
 */
import { BLOCK_STRIDE, mapIndex, type Chunk, type CoefficientPasses } from './jpeg-coefficient-blocks.js';
import { EntropyReader, extend } from './jpeg-huffman.js';
import type { FrameGeometry, ScanPlan } from './jpeg-progressive-layout.js';
import { RST0, markerName, type JpegReader } from './jpeg-markers.js';

/**
 * Bytes kept in the input window before each MCU. An MCU has at most 10
 * blocks and a block at most 64 codes of 16 bits plus 16 value bits, doubled
 * by byte stuffing: under 6 KiB. The bit reader never runs off the window.
 */
const MIN_WINDOW = 64 * 1024;

type BlockDecoder = (s: number, coefs: Int16Array, maps: Int32Array, at: number) => void;

export async function decodeScan(scan: ScanPlan, geometry: FrameGeometry, store: CoefficientPasses, reader: JpegReader): Promise<void> {
  reader.seek(scan.dataOffset);
  const d = new ScanDecoder(scan, reader);
  if (scan.components.length > 1) {
    const comps = scan.components.map((c) => geometry.components[c.index]!);
    await store.pass(scan.components.map((c) => c.index), geometry.mcusPerColumn, true, async (chunk: Chunk) => {
      for (let m = 0; m < chunk.count; m++) {
        for (let j = 0; j < geometry.mcusPerLine; j++) {
          const reading = d.input();
          if (reading) await reading; // only when the file must be read: an await per MCU would cost more than the MCU
          for (let s = 0; s < comps.length; s++) {
            const g = comps[s]!;
            const coefs = chunk.coefficients[s]!;
            const maps = chunk.maps[s]!;
            for (let v = 0; v < g.v; v++) {
              const row = (m * g.v + v) * g.grid.blocksPerLine + j * g.h;
              for (let h = 0; h < g.h; h++) d.block(s, coefs, maps, (row + h) * BLOCK_STRIDE);
            }
          }
          d.endMcu();
        }
      }
    });
  } else {
    const g = geometry.components[scan.components[0]!.index]!;
    await store.pass([scan.components[0]!.index], Math.ceil(g.blocksHigh / g.v), true, async (chunk: Chunk) => {
      const coefs = chunk.coefficients[0]!;
      const maps = chunk.maps[0]!;
      const rows = Math.min(g.blocksHigh - chunk.first * g.v, chunk.count * g.v);
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < g.blocksWide; x++) {
          const reading = d.input();
          if (reading) await reading; // only when the file must be read: an await per MCU would cost more than the MCU
          d.block(0, coefs, maps, (y * g.grid.blocksPerLine + x) * BLOCK_STRIDE);
          d.endMcu();
        }
      }
    });
  }
}

class ScanDecoder {
  readonly block: BlockDecoder;
  private readonly bits: EntropyReader;
  private readonly pred: Float64Array;
  private eobrun = 0;
  /** MCUs left before the next restart marker (restart intervals only). */
  private left: number;
  private nextRst = 0;

  constructor(private readonly scan: ScanPlan, private readonly reader: JpegReader) {
    this.bits = new EntropyReader(reader, (detail) => reader.corrupt(detail));
    this.pred = new Float64Array(scan.components.length);
    this.left = scan.restartInterval;
    const first = scan.ah === 0;
    this.block = scan.ss === 0
      ? (first ? this.dcFirst : this.dcRefine).bind(this)
      : (first ? this.acFirst : this.acRefine).bind(this);
  }

  /**
   * Before an MCU: the restart marker when one is due, then a refill when the window runs low. A
   * promise only when the file must be read: restart markers come every few MCUs, and awaiting
   * each one cost more than decoding the MCUs between them.
   */
  input(): Promise<void> | undefined {
    if (this.scan.restartInterval > 0 && this.left === 0) {
      this.bits.reset();
      const marker = this.reader.markerInWindow(false);
      if (marker === undefined) {
        return this.reader.nextMarker(false).then((found) => {
          this.restarted(found);
          return this.refill();
        });
      }
      this.restarted(marker);
    }
    return this.refill();
  }

  private refill(): Promise<void> | undefined {
    const r = this.reader;
    return r.end - r.pos < MIN_WINDOW && !r.eof ? r.ensure(MIN_WINDOW).then(() => undefined) : undefined;
  }

  endMcu(): void {
    if (this.bits.overrun) throw this.reader.corrupt('truncated or damaged image data: a scan ends before its last block');
    this.left--;
  }

  private restarted(marker: number | null): void {
    if (marker !== RST0 + this.nextRst) {
      throw this.reader.corrupt(marker === null ? 'truncated: the file ends inside a scan' : `expected restart marker RST${this.nextRst}, found ${markerName(marker)}`);
    }
    this.nextRst = (this.nextRst + 1) & 7;
    this.eobrun = 0;
    this.pred.fill(0);
    this.left = this.scan.restartInterval;
  }

  private dcFirst(s: number, coefs: Int16Array, _maps: Int32Array, at: number): void {
    const size = this.bits.decode(this.scan.dcTables[s]!);
    const diff = size === 0 ? 0 : extend(this.bits.bits(size), size);
    this.pred[s]! += diff;
    // Int16Array keeps the low 16 bits, as libjpeg's (JCOEF) cast does.
    coefs[at] = this.pred[s]! * (1 << this.scan.al);
  }

  private dcRefine(_s: number, coefs: Int16Array, _maps: Int32Array, at: number): void {
    if (this.bits.bit()) coefs[at]! |= 1 << this.scan.al;
  }

  private acFirst(_s: number, coefs: Int16Array, maps: Int32Array, at: number): void {
    if (this.eobrun > 0) {
      this.eobrun--;
      return;
    }
    const table = this.scan.acTables[0]!;
    const { se, al } = this.scan;
    for (let k = this.scan.ss; k <= se; k++) {
      const rs = this.bits.decode(table);
      const r = rs >> 4;
      const size = rs & 15;
      if (size !== 0) {
        k += r;
        if (k > se) throw this.reader.corrupt('a coefficient run goes past the end of its band');
        coefs[at + k] = extend(this.bits.bits(size), size) * (1 << al);
        // Int16Array wraps as libjpeg's cast does, and a wrapped value can be 0: the map follows what is stored.
        if (coefs[at + k] !== 0) maps[mapIndex(at) + (k >> 5)]! |= 1 << (k & 31);
      } else if (r === 15) {
        k += 15; // sixteen zeros
      } else {
        this.eobrun = (1 << r) + this.bits.bits(r) - 1; // this block ends the band, and so do that many more
        return;
      }
    }
  }

  private acRefine(_s: number, coefs: Int16Array, maps: Int32Array, at: number): void {
    const table = this.scan.acTables[0]!;
    const se = this.scan.se;
    const p1 = 1 << this.scan.al;
    const bits = this.bits;
    const map = mapIndex(at);
    let k = this.scan.ss;
    if (this.eobrun === 0) {
      for (; k <= se; k++) {
        const rs = bits.decode(table);
        let r = rs >> 4;
        const size = rs & 15;
        let value = 0;
        if (size !== 0) {
          if (size !== 1) throw this.reader.corrupt('invalid coefficient size in a refinement scan');
          value = bits.bit() ? p1 : -p1;
        } else if (r !== 15) {
          this.eobrun = (1 << r) + bits.bits(r);
          break; // the rest of this block only gets correction bits, below
        }
        // Pass r coefficients that are still zero (correcting nonzero ones on the way); the new one goes at the next zero.
        for (; k <= se; k++) {
          const c = coefs[at + k]!;
          if (c !== 0) {
            if (bits.bit() && (c & p1) === 0) coefs[at + k] = c >= 0 ? c + p1 : c - p1;
          } else if (--r < 0) {
            break;
          }
        }
        if (value !== 0) {
          if (k > se) throw this.reader.corrupt('a refinement run goes past the end of its band');
          coefs[at + k] = value;
          maps[map + (k >> 5)]! |= 1 << (k & 31);
        }
      }
    }
    if (this.eobrun > 0) {
      // Correction bits for the nonzero coefficients in k..se, found through the block's map.
      for (let word = k >> 5; word <= se >> 5 && k <= se; word++) {
        let nonzero = maps[map + word]!;
        if (k > word << 5) nonzero &= ~((1 << (k & 31)) - 1);
        if (se < (word << 5) + 31) nonzero &= (1 << ((se & 31) + 1)) - 1;
        while (nonzero !== 0) {
          const lowest = nonzero & -nonzero;
          nonzero ^= lowest;
          const i = at + (word << 5) + 31 - Math.clz32(lowest);
          const c = coefs[i]!;
          if (bits.bit() && (c & p1) === 0) coefs[i] = c >= 0 ? c + p1 : c - p1;
        }
      }
      this.eobrun--;
    }
  }
}
