/**
 * Last pass of the progressive -> baseline rewrite: the final coefficients
 * become one interleaved sequential scan (ITU T.81 F.1.2, as libjpeg's
 * jchuff.c writes it). Either one pass counts the symbols and builds optimal
 * Huffman tables from them (as `jpegtran -optimize` does) and a second
 * encodes, or the tables come from the first chunk (encodeWithSampledTables).
 *
 * Table slots follow libjpeg: the first component uses tables 0, the others
 * tables 1 (luma and chroma for YCbCr).
 */
import type { ByteSink } from './buffered-file.js';
import { BLOCK_STRIDE, mapIndex, type Chunk, type CoefficientPasses } from './jpeg-coefficient-blocks.js';
import { BitWriter, EncodeTable, optimalSpec } from './jpeg-huffman.js';
import { DHT, SOS, writeSegment, type JpegFrame } from './jpeg-markers.js';
import type { FrameGeometry } from './jpeg-progressive-layout.js';

/** Largest magnitude categories of 8-bit baseline: DC differences 11 bits, AC coefficients 10 (T.81 F.1.2). */
const MAX_DC_BITS = 11;
const MAX_AC_BITS = 10;
const FLUSH_AT = 1024 * 1024;

export interface BaselineTables {
  /** Table slot (0 or 1) of each frame component. */
  slots: number[];
  dc: EncodeTable[];
  ac: EncodeTable[];
}

type Visit = (c: number, coefs: Int16Array, maps: Int32Array, at: number) => void;

/**
 * Every block of the output scan, in its order: MCU by MCU for several
 * components (dummy blocks included), the component's own blocks in raster
 * order for one. `afterMcu` may return a promise to be awaited.
 */
async function forEachBlock(store: CoefficientPasses, geometry: FrameGeometry, visit: Visit, afterMcu: () => Promise<void> | undefined): Promise<void> {
  const comps = geometry.components;
  if (comps.length > 1) {
    await store.pass(comps.map((_, i) => i), geometry.mcusPerColumn, false, async (chunk) => {
      for (let m = 0; m < chunk.count; m++) {
        for (let j = 0; j < geometry.mcusPerLine; j++) {
          for (let c = 0; c < comps.length; c++) {
            const g = comps[c]!;
            const coefs = chunk.coefficients[c]!;
            const maps = chunk.maps[c]!;
            for (let v = 0; v < g.v; v++) {
              const row = (m * g.v + v) * g.grid.blocksPerLine + j * g.h;
              for (let h = 0; h < g.h; h++) visit(c, coefs, maps, (row + h) * BLOCK_STRIDE);
            }
          }
          const pending = afterMcu();
          if (pending) await pending;
        }
      }
    });
  } else {
    const g = comps[0]!;
    await store.pass([0], Math.ceil(g.blocksHigh / g.v), false, async (chunk) => {
      const coefs = chunk.coefficients[0]!;
      const maps = chunk.maps[0]!;
      const rows = Math.min(g.blocksHigh - chunk.first * g.v, chunk.count * g.v);
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < g.blocksWide; x++) {
          visit(0, coefs, maps, (y * g.grid.blocksPerLine + x) * BLOCK_STRIDE);
          const pending = afterMcu();
          if (pending) await pending;
        }
      }
    });
  }
}

function bitLength(magnitude: number): number {
  return 32 - Math.clz32(magnitude);
}

/**
 * Calls `emit(run, k)` for each nonzero AC coefficient k of a block, in
 * zigzag order, with the count of zeros before it (since the previous one),
 * found through the block's nonzero map; returns the index of the last.
 */
function forEachNonzero(maps: Int32Array, at: number, emit: (run: number, k: number) => void): number {
  const map = mapIndex(at);
  let previous = 0;
  for (let word = 0; word < 2; word++) {
    let nonzero = maps[map + word]!;
    while (nonzero !== 0) {
      const lowest = nonzero & -nonzero;
      nonzero ^= lowest;
      const k = (word << 5) + 31 - Math.clz32(lowest);
      emit(k - previous - 1, k);
      previous = k;
    }
  }
  return previous;
}

/**
 * Counts the symbols the output scan will code and builds optimal tables for them. With
 * `everySymbol`, every symbol of 8-bit baseline gets a code, also those not counted: tables
 * made from part of the image (encodeWithSampledTables) can then code the rest.
 */
export async function optimalTables(store: CoefficientPasses, geometry: FrameGeometry, corrupt: (detail: string) => Error, opts: { everySymbol?: boolean } = {}): Promise<BaselineTables> {
  const n = geometry.components.length;
  const slots = geometry.components.map((_, i) => (i === 0 ? 0 : 1));
  const used = n > 1 ? 2 : 1;
  const dcFreq = Array.from({ length: used }, () => new Float64Array(256));
  const acFreq = Array.from({ length: used }, () => new Float64Array(256));
  const last = new Int32Array(n);
  const outOfRange = () => corrupt('a DCT coefficient is out of the range of 8-bit JPEG');
  let ac = acFreq[0]!;
  let coefs: Int16Array = new Int16Array(0);
  let at = 0;
  const count = (run: number, k: number): void => {
    for (; run > 15; run -= 16) ac[0xf0]!++;
    const size = bitLength(Math.abs(coefs[at + k]!));
    if (size > MAX_AC_BITS) throw outOfRange();
    ac[(run << 4) | size]!++;
  };
  await forEachBlock(store, geometry, (c, blockCoefs, maps, blockAt) => {
    coefs = blockCoefs;
    at = blockAt;
    ac = acFreq[slots[c]!]!;
    const diffBits = bitLength(Math.abs(coefs[at]! - last[c]!));
    if (diffBits > MAX_DC_BITS) throw outOfRange();
    dcFreq[slots[c]!]![diffBits]!++;
    last[c] = coefs[at]!;
    if (forEachNonzero(maps, at, count) < 63) ac[0]!++; // end of block
  }, () => undefined);
  if (opts.everySymbol) {
    for (const f of dcFreq) for (let size = 0; size <= MAX_DC_BITS; size++) f[size]!++;
    for (const f of acFreq) {
      f[0x00]!++; // end of block
      f[0xf0]!++; // sixteen zeros
      for (let run = 0; run < 16; run++) for (let size = 1; size <= MAX_AC_BITS; size++) f[(run << 4) | size]!++;
    }
  }
  return {
    slots,
    dc: dcFreq.map((f) => new EncodeTable(optimalSpec(f))),
    ac: acFreq.map((f) => new EncodeTable(optimalSpec(f))),
  };
}

/** DHT and SOS of the single baseline scan. */
export async function writeScanHeader(out: ByteSink, frame: JpegFrame, tables: BaselineTables): Promise<void> {
  const entries: Buffer[] = [];
  tables.dc.forEach((t, slot) => entries.push(t.dhtEntry(0, slot)));
  tables.ac.forEach((t, slot) => entries.push(t.dhtEntry(1, slot)));
  await writeSegment(out, DHT, Buffer.concat(entries));
  const sos = [frame.components.length];
  frame.components.forEach((c, i) => sos.push(c.id, (tables.slots[i]! << 4) | tables.slots[i]!));
  sos.push(0, 63, 0);
  await writeSegment(out, SOS, Uint8Array.from(sos));
}

/**
 * The entropy-coded data of the baseline scan. `tables` may be a function, called at the first
 * block (after the first chunk is in, see encodeWithSampledTables).
 */
export async function encodeScan(
  store: CoefficientPasses,
  geometry: FrameGeometry,
  tablesOrLater: BaselineTables | (() => BaselineTables),
  out: ByteSink,
  corrupt: (detail: string) => Error,
): Promise<void> {
  const w = new BitWriter(FLUSH_AT + 64 * 1024);
  const last = new Int32Array(geometry.components.length);
  const outOfRange = () => corrupt('a DCT coefficient is out of the range of 8-bit JPEG');
  let tables: BaselineTables | undefined;
  let ac: EncodeTable;
  let coefs: Int16Array = new Int16Array(0);
  let at = 0;
  const code = (run: number, k: number): void => {
    for (; run > 15; run -= 16) w.put(ac.code[0xf0]!, ac.size[0xf0]!);
    const v = coefs[at + k]!;
    const size = bitLength(Math.abs(v));
    if (size > MAX_AC_BITS) throw outOfRange();
    const symbol = (run << 4) | size;
    w.put(ac.code[symbol]!, ac.size[symbol]!);
    w.put(v < 0 ? v - 1 : v, size);
  };
  await forEachBlock(store, geometry, (c, blockCoefs, maps, blockAt) => {
    coefs = blockCoefs;
    at = blockAt;
    tables ??= typeof tablesOrLater === 'function' ? tablesOrLater() : tablesOrLater;
    ac = tables.ac[tables.slots[c]!]!;
    const dc = tables.dc[tables.slots[c]!]!;
    const diff = coefs[at]! - last[c]!;
    last[c] = coefs[at]!;
    const diffBits = bitLength(Math.abs(diff));
    if (diffBits > MAX_DC_BITS) throw outOfRange();
    w.put(dc.code[diffBits]!, dc.size[diffBits]!);
    if (diffBits > 0) w.put(diff < 0 ? diff - 1 : diff, diffBits);
    if (forEachNonzero(maps, at, code) < 63) w.put(ac.code[0]!, ac.size[0]!);
  }, () => (w.used >= FLUSH_AT ? out.write(w.take()) : undefined));
  w.padToByte();
  await out.write(w.take());
}

/**
 * The header's DHT and SOS, then the scan, with tables built from the first chunk of the image
 * (and a code for every other symbol): for a rewrite streamed as it is decoded, which cannot
 * count the whole image before its first byte. Same coefficients, so the same pixels; a few
 * percent larger than with optimal tables.
 */
export async function encodeWithSampledTables(store: CoefficientPasses, geometry: FrameGeometry, frame: JpegFrame, out: ByteSink, corrupt: (detail: string) => Error): Promise<void> {
  let tables: BaselineTables | undefined;
  const sampling: CoefficientPasses = {
    pass: (components, bands, writeBack, work) =>
      store.pass(components, bands, writeBack, async (chunk: Chunk) => {
        if (!tables) {
          const firstChunk: CoefficientPasses = { pass: async (_c, _b, _w, count) => count(chunk) };
          tables = await optimalTables(firstChunk, geometry, corrupt, { everySymbol: true });
          await writeScanHeader(out, frame, tables);
        }
        await work(chunk);
      }),
  };
  await encodeScan(sampling, geometry, () => tables!, out, corrupt);
}
