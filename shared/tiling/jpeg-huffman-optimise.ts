/**
 * Lossless Huffman re-optimisation of one small baseline JPEG held in memory:
 * what `jpegtran -optimize -copy all` does, for the tiles of dzsave's direct
 * mode (dzsave-direct.ts). libjpeg writes them with its standard Huffman tables
 * (T.81 K.3); coding the very same symbols with tables built from their own
 * counts makes a tile about 15% smaller without touching a coefficient, so the
 * decoded pixels stay bit for bit the same.
 *
 * Only the entropy coding is redone, never the DCT: the scan is parsed into
 * (table, symbol, extra bits) tokens, the symbols are counted per table, optimal
 * tables are built the way libjpeg builds them (optimalSpec) and the tokens are
 * written out again with them. Restart intervals are kept where they were.
 *
 * Anything other than a single-scan 8-bit baseline Huffman JPEG (progressive,
 * arithmetic, 12-bit, several scans) or anything damaged gives null: the
 * caller keeps the tile it has, which is valid, only larger.
 */
import { BitWriter, DecodeTable, EntropyReader, optimalSpec, type ByteWindow, type HuffmanSpec } from './jpeg-huffman.js';
import { frameGeometry } from './jpeg-progressive-layout.js';
import { DAC, DHT, DRI, EOI, RST0, SOF0, SOF1, SOI, SOS, isSof, parseDht, parseDri, parseSof, parseSos, type JpegFrame, type ScanHeader } from './jpeg-markers.js';

/** Token layout: extra bits << 12 | table slot << 8 | symbol. Slots 0..3 are DC tables, 4..7 AC tables. */
const SLOT_SHIFT = 8;
const EXTRA_SHIFT = 12;
const AC_SLOT = 4;

/** Thrown inside this module only: the input is not something it rewrites. */
class NotOptimisable extends Error {}
const refuse = (detail: string): Error => new NotOptimisable(detail);

interface Segments {
  frame: JpegFrame;
  scan: ScanHeader;
  restartInterval: number;
  /** The segments to copy unchanged (everything before the scan but SOI and DHT), marker and length included. */
  kept: Uint8Array[];
  /** The SOS segment, marker and length included. */
  sos: Uint8Array;
  /** Decoding tables by slot: DC 0..3, AC 4..7. */
  decode: Array<DecodeTable | undefined>;
  /** Offset of the first entropy-coded byte. */
  dataStart: number;
}

/** The same JPEG with optimal Huffman tables, or null when it is not a kind this rewrites, is damaged, or would not get smaller. */
export function optimiseHuffman(jpeg: Uint8Array): Buffer | null {
  try {
    const segments = readSegments(jpeg);
    const { tokens, count, restarts, freq } = tokenise(jpeg, segments);
    return writeOptimised(jpeg.length, segments, tokens, count, restarts, freq);
  } catch (err) {
    if (err instanceof NotOptimisable) return null;
    throw err;
  }
}

function readSegments(jpeg: Uint8Array): Segments {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== SOI) throw refuse('not a JPEG');
  const buf = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  const kept: Uint8Array[] = [];
  const decode: Array<DecodeTable | undefined> = new Array(8);
  let frame: JpegFrame | undefined;
  let restartInterval = 0;
  let at = 2;
  for (;;) {
    if (at + 4 > buf.length || buf[at] !== 0xff) throw refuse('damaged marker structure');
    while (buf[at + 1] === 0xff && at + 5 <= buf.length) at++; // fill bytes before a marker
    const marker = buf[at + 1]!;
    const end = at + 2 + buf.readUInt16BE(at + 2);
    if (end > buf.length || end < at + 4) throw refuse('segment runs past the end');
    const data = buf.subarray(at + 4, end);
    if (marker === SOS) {
      if (!frame) throw refuse('scan before the frame header');
      const scan = parseSos(data, frame, refuse);
      return { frame, scan, restartInterval, kept, sos: buf.subarray(at, end), decode, dataStart: end };
    }
    if (marker === DHT) {
      for (const t of parseDht(data, refuse)) decode[t.tc * AC_SLOT + t.th] = decodeTable(t.tc, t.spec);
    } else {
      if (marker === EOI || marker === DAC) throw refuse('no Huffman-coded scan');
      if (isSof(marker)) {
        if (marker !== SOF0 && marker !== SOF1) throw refuse('not a baseline or extended sequential Huffman frame');
        frame = parseSof(marker, data, refuse);
        if (frame.precision !== 8) throw refuse('not 8-bit');
      }
      if (marker === DRI) restartInterval = parseDri(data, refuse);
      kept.push(buf.subarray(at, end));
    }
    at = end;
  }
}

/** One block's coding units: a DC table slot and an AC table slot per block of an MCU, in order. */
function mcuLayout(frame: JpegFrame, scan: ScanHeader): { dc: number[]; ac: number[]; mcus: number } {
  if (scan.components.length !== frame.components.length || scan.ss !== 0 || scan.se !== 63 || scan.ah !== 0 || scan.al !== 0) {
    throw refuse('not a single full scan');
  }
  if (frame.height === 0) throw refuse('height defined later (DNL)');
  const geometry = frameGeometry(frame);
  const dc: number[] = [];
  const ac: number[] = [];
  if (frame.components.length === 1) {
    // A single-component scan is not interleaved: one block per MCU, whatever the sampling factors.
    dc.push(scan.components[0]!.td);
    ac.push(AC_SLOT + scan.components[0]!.ta);
    const only = geometry.components[0]!;
    return { dc, ac, mcus: only.blocksWide * only.blocksHigh };
  }
  for (const sc of scan.components) {
    const c = frame.components[sc.index]!;
    for (let b = 0; b < c.h * c.v; b++) {
      dc.push(sc.td);
      ac.push(AC_SLOT + sc.ta);
    }
  }
  return { dc, ac, mcus: geometry.mcusPerLine * geometry.mcusPerColumn };
}

/**
 * Decoding tables by their DHT bytes. The tiles of one image (of every image,
 * for libjpeg's standard tables) share a few: built once, not four times a tile.
 */
const decodeTables = new Map<string, DecodeTable>();
const MAX_CACHED_TABLES = 64;

function decodeTable(tc: number, spec: HuffmanSpec): DecodeTable {
  const key = `${tc}:${Buffer.from(spec.counts.buffer, spec.counts.byteOffset, spec.counts.byteLength).toString('latin1')}:${Buffer.from(spec.symbols.buffer, spec.symbols.byteOffset, spec.symbols.byteLength).toString('latin1')}`;
  let table = decodeTables.get(key);
  if (!table) {
    table = new DecodeTable(spec, tc === 0, refuse);
    if (decodeTables.size >= MAX_CACHED_TABLES) decodeTables.clear();
    decodeTables.set(key, table);
  }
  return table;
}

/** Made once and reused (grown when a tile needs more): typed arrays this large are slow to allocate per tile. */
let scratch = new Int32Array(64 * 1024);
const freqScratch = new Int32Array(8 * 256);

/** Pass 1: every symbol of the scan as a token, and the symbol counts per table. */
function tokenise(jpeg: Uint8Array, s: Segments): { tokens: Int32Array; count: number; restarts: number[]; freq: Int32Array } {
  const layout = mcuLayout(s.frame, s.scan);
  const blocks = layout.dc.length;
  // At most 64 symbols a block (a DC, then AC symbols and an end of block, never more than 63 + 1).
  const needed = layout.mcus * blocks * 64;
  if (scratch.length < needed) scratch = new Int32Array(needed);
  const tokens = scratch;
  const freq = freqScratch;
  freq.fill(0);
  const tableAt = (slot: number): DecodeTable => s.decode[slot] ?? fail(`scan uses Huffman table slot ${slot}, which is not defined`);
  const dcTables = layout.dc.map(tableAt);
  const acTables = layout.ac.map(tableAt);
  const window: ByteWindow = { buf: jpeg, pos: s.dataStart, end: jpeg.length };
  const bits = new EntropyReader(window, refuse);
  const restarts: number[] = [];
  let count = 0;
  let nextRst = 0;
  for (let mcu = 0; mcu < layout.mcus; mcu++) {
    if (s.restartInterval > 0 && mcu > 0 && mcu % s.restartInterval === 0) {
      bits.reset();
      window.pos = afterMarker(jpeg, window.pos, RST0 + nextRst);
      nextRst = (nextRst + 1) & 7;
      restarts.push(count);
    }
    for (let b = 0; b < blocks; b++) {
      const dcSlot = layout.dc[b]!;
      const size = bits.decode(dcTables[b]!);
      if (size > 11) throw refuse('DC difference out of range');
      tokens[count++] = (bits.bits(size) << EXTRA_SHIFT) | (dcSlot << SLOT_SHIFT) | size;
      freq[(dcSlot << 8) | size]!++;
      const acSlot = layout.ac[b]!;
      const ac = acTables[b]!;
      for (let k = 1; k < 64; ) {
        const rs = bits.decode(ac);
        const n = rs & 15;
        tokens[count++] = (bits.bits(n) << EXTRA_SHIFT) | (acSlot << SLOT_SHIFT) | rs;
        freq[(acSlot << 8) | rs]!++;
        if (n > 0) k += (rs >> 4) + 1;
        else if (rs === 0xf0) k += 16;
        else break; // end of block
      }
    }
    if (bits.overrun) throw refuse('truncated image data');
  }
  bits.reset();
  afterMarker(jpeg, window.pos, EOI);
  return { tokens, count, restarts, freq };
}

function fail(detail: string): never {
  throw refuse(detail);
}

/** Skips the rest of the last byte's padding up to the next marker, which must be `code`; the offset after it. */
function afterMarker(buf: Uint8Array, from: number, code: number): number {
  let pos = from;
  while (pos + 1 < buf.length && !(buf[pos] === 0xff && buf[pos + 1] !== 0 && buf[pos + 1] !== 0xff)) pos++;
  if (pos + 1 >= buf.length || buf[pos + 1] !== code) throw refuse('expected marker missing');
  return pos + 2;
}

/** Code (low 16 bits) and length (<< 16) by token index (table slot << 8 | symbol); remade per tile, allocated once. */
const codeOf = new Int32Array(8 * 256);
/** Reused for every tile (grown when one needs more): typed arrays this large are slow to allocate per tile. */
let writer = new BitWriter(64 * 1024);

/** Pass 2: the tokens again, with optimal tables; null unless that makes the file smaller. */
function writeOptimised(inputBytes: number, s: Segments, tokens: Int32Array, count: number, restarts: number[], freq: Int32Array): Buffer | null {
  const dht: Uint8Array[] = [];
  for (let slot = 0; slot < 8; slot++) {
    const f = freq.subarray(slot * 256, slot * 256 + 256);
    if (!f.some((n) => n > 0)) continue;
    const spec = optimalSpec(f);
    // Canonical codes (T.81 C.2), as EncodeTable makes them, straight into this slot's entries.
    for (let l = 1, code = 0, k = 0; l <= 16; l++, code <<= 1) {
      for (let i = 0; i < spec.counts[l]!; i++, k++, code++) codeOf[(slot << 8) | spec.symbols[k]!] = (l << 16) | code;
    }
    dht.push(Buffer.from([(slot >= AC_SLOT ? 0x10 : 0) | slot % AC_SLOT]), spec.counts.subarray(1), spec.symbols);
  }
  // Optimal codes for the same symbols take no more bits than the old ones; twice the input leaves
  // room for any amount of byte stuffing.
  if (writer.out.length < inputBytes * 2 + 1024) writer = new BitWriter(inputBytes * 2 + 1024);
  const w = writer;
  let nextRestart = 0;
  let rst = 0;
  for (let i = 0; i < count; i++) {
    if (nextRestart < restarts.length && restarts[nextRestart] === i) {
      w.marker(RST0 + rst);
      rst = (rst + 1) & 7;
      nextRestart++;
    }
    const token = tokens[i]!;
    const code = codeOf[token & 0x7ff]!;
    w.put(code & 0xffff, code >>> 16);
    w.put(token >>> EXTRA_SHIFT, token & 15);
  }
  w.marker(EOI);
  const dhtPayload = Buffer.concat(dht);
  const dhtSegment = Buffer.from([0xff, DHT, (dhtPayload.length + 2) >> 8, (dhtPayload.length + 2) & 0xff]);
  const result = Buffer.concat([Buffer.from([0xff, SOI]), ...s.kept, dhtSegment, dhtPayload, s.sos, w.take()]);
  return result.length < inputBytes ? result : null;
}
