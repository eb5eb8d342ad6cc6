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
import { DecodeTable, nextEntropyByte, optimalSpec, type ByteWindow, type EntropyEnd, type HuffmanSpec } from './jpeg-huffman.js';
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
  decode: Array<ScanTable | undefined>;
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
  const decode: Array<ScanTable | undefined> = new Array(8);
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
      for (const t of parseDht(data, refuse)) decode[t.tc * AC_SLOT + t.th] = scanTable(t.tc, t.th, t.spec);
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

/** Bits a fused lookup reads at once: a symbol's code and its extra bits together. */
const FUSED_BITS = 11;
const FUSED_MASK = (1 << FUSED_BITS) - 1;
/** The largest DC difference size of 8-bit data (T.81 F.1.2.1). */
const MAX_DC_SIZE = 11;

/** A DHT table as tokenise reads it: libjpeg's checked decoding table plus a fused lookup. */
interface ScanTable {
  decode: DecodeTable;
  /** Slot << SLOT_SHIFT, ready to be or-ed into a token. */
  slotBits: number;
  /**
   * By the next FUSED_BITS bits of the scan: the whole token those bits start
   * with (symbol, slot and extra bits, as a token) with the number of bits it
   * takes in bits 24 and up; 0 where the code and its extra bits do not both
   * fit in FUSED_BITS (tokenise then decodes the long way). Most tokens of a
   * tile are found with this one read instead of a decode and a read of bits.
   */
  fused: Int32Array;
}

/**
 * Decoding tables by their slot and DHT bytes. The tiles of one image (of every
 * image, for libjpeg's standard tables) share a few: built once, not four times a tile.
 */
const scanTables = new Map<string, ScanTable>();
const MAX_CACHED_TABLES = 64;

function scanTable(tc: number, th: number, spec: HuffmanSpec): ScanTable {
  const slot = tc * AC_SLOT + th;
  const key = `${slot}:${Buffer.from(spec.counts.buffer, spec.counts.byteOffset, spec.counts.byteLength).toString('latin1')}:${Buffer.from(spec.symbols.buffer, spec.symbols.byteOffset, spec.symbols.byteLength).toString('latin1')}`;
  let table = scanTables.get(key);
  if (!table) {
    const decode = new DecodeTable(spec, tc === 0, refuse);
    table = { decode, slotBits: slot << SLOT_SHIFT, fused: fusedLookup(spec, tc === 0, slot) };
    if (scanTables.size >= MAX_CACHED_TABLES) scanTables.clear();
    scanTables.set(key, table);
  }
  return table;
}

/** ScanTable.fused for a table already checked by DecodeTable. */
function fusedLookup(spec: HuffmanSpec, isDc: boolean, slot: number): Int32Array {
  const fused = new Int32Array(1 << FUSED_BITS);
  for (let l = 1, code = 0, k = 0; l <= FUSED_BITS; l++, code <<= 1) {
    for (let i = 0; i < spec.counts[l]!; i++, k++, code++) {
      const symbol = spec.symbols[k]!;
      const n = isDc ? symbol : symbol & 15;
      if (isDc && n > MAX_DC_SIZE) continue; // refused by the long way
      const taken = l + n;
      if (taken > FUSED_BITS) continue;
      // Every FUSED_BITS-bit pattern that starts with this code: the bits after it are the extra bits, then whatever follows.
      const first = code << (FUSED_BITS - l);
      for (let rest = 0; rest < 1 << (FUSED_BITS - l); rest++) {
        const extra = rest >>> (FUSED_BITS - taken);
        fused[first | rest] = (taken << 24) | (extra << EXTRA_SHIFT) | (slot << SLOT_SHIFT) | symbol;
      }
    }
  }
  return fused;
}

/** Made once and reused (grown when a tile needs more): typed arrays this large are slow to allocate per tile. */
let scratch = new Int32Array(64 * 1024);
const freqScratch = new Int32Array(8 * 256);

/**
 * Pass 1: every symbol of the scan as a token, and the symbol counts per table.
 *
 * The bit reader is written out here in local variables rather than used
 * through EntropyReader, and most tokens come from one fused lookup: this loop
 * runs for every symbol of every tile (8,800 a tile, 98.6% of them fused, for
 * the 236 MP photo). With both, and encodeTokens for pass 2, the whole pass took
 * 1.91-1.94 CPU-s for that photo's 4,852 tiles against 2.19-2.52 before
 * (bench/huffman-pass.ts, alternating, 2026-12-03).
 * It reads bytes as EntropyReader does (nextEntropyByte), and bits taken past
 * the end of the data (more than `fake` would allow) mean it is truncated.
 */
function tokenise(jpeg: Uint8Array, s: Segments): { tokens: Int32Array; count: number; restarts: number[]; freq: Int32Array } {
  const layout = mcuLayout(s.frame, s.scan);
  const blocks = layout.dc.length;
  // At most 64 symbols a block (a DC, then AC symbols and an end of block, never more than 63 + 1).
  const needed = layout.mcus * blocks * 64;
  if (scratch.length < needed) scratch = new Int32Array(needed);
  const tokens = scratch;
  const freq = freqScratch;
  freq.fill(0);
  const tableAt = (slot: number): ScanTable => s.decode[slot] ?? fail(`scan uses Huffman table slot ${slot}, which is not defined`);
  const dcTables = layout.dc.map(tableAt);
  const acTables = layout.ac.map(tableAt);
  const restarts: number[] = [];
  // One object as both the window and its end state: nextEntropyByte reads and moves it.
  const cursor: ByteWindow & EntropyEnd = { buf: jpeg, pos: s.dataStart, end: jpeg.length, fake: 0, ended: false };
  /** Bits not yet taken are the low `nbits` of `acc`; the last `cursor.fake` of them were fed after the data ended. */
  let acc = 0;
  let nbits = 0;
  let count = 0;
  let nextRst = 0;
  for (let mcu = 0; mcu < layout.mcus; mcu++) {
    if (s.restartInterval > 0 && mcu > 0 && mcu % s.restartInterval === 0) {
      acc = nbits = cursor.fake = 0;
      cursor.ended = false;
      cursor.pos = afterMarker(jpeg, cursor.pos, RST0 + nextRst);
      nextRst = (nextRst + 1) & 7;
      restarts.push(count);
    }
    for (let b = 0; b < blocks; b++) {
      let table = dcTables[b]!;
      // k: the next coefficient of the block; 0 while its DC symbol is read.
      for (let k = 0; ; ) {
        // Top up to 25..32 bits: enough for any code of up to 16 bits, or any fused token.
        while (nbits <= 24) {
          acc = (acc << 8) | nextEntropyByte(cursor, cursor);
          nbits += 8;
        }
        let token = table.fused[(acc >>> (nbits - FUSED_BITS)) & FUSED_MASK]!;
        if (token !== 0) {
          nbits -= token >>> 24;
          token &= 0xffffff;
        } else {
          // The long way: the code, then its extra bits.
          const hit = table.decode.lookUp((acc >>> (nbits - 16)) & 0xffff);
          if (hit === 0) throw refuse('invalid Huffman code in the image data');
          nbits -= hit >>> 8;
          const symbol = hit & 0xff;
          if (k === 0 && symbol > MAX_DC_SIZE) throw refuse('DC difference out of range');
          const n = k === 0 ? symbol : symbol & 15;
          while (nbits < n) {
            acc = (acc << 8) | nextEntropyByte(cursor, cursor);
            nbits += 8;
          }
          nbits -= n;
          const extra = n === 0 ? 0 : (acc >>> nbits) & ((1 << n) - 1);
          token = (extra << EXTRA_SHIFT) | table.slotBits | symbol;
        }
        tokens[count++] = token;
        freq[token & 0x7ff]!++;
        if (k === 0) {
          k = 1;
          table = acTables[b]!;
          continue;
        }
        const rs = token & 0xff;
        if ((rs & 15) !== 0) k += (rs >> 4) + 1;
        else if (rs === 0xf0) k += 16;
        else break; // end of block
        if (k >= 64) break;
      }
    }
    if (nbits < cursor.fake) throw refuse('truncated image data');
  }
  afterMarker(jpeg, cursor.pos, EOI);
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
let out = new Uint8Array(64 * 1024);

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
  if (out.length < inputBytes * 2 + 1024) out = new Uint8Array(inputBytes * 2 + 1024);
  const used = encodeTokens(tokens, count, restarts, codeOf, out);
  const dhtPayload = Buffer.concat(dht);
  const dhtSegment = Buffer.from([0xff, DHT, (dhtPayload.length + 2) >> 8, (dhtPayload.length + 2) & 0xff]);
  const result = Buffer.concat([Buffer.from([0xff, SOI]), ...s.kept, dhtSegment, dhtPayload, s.sos, out.subarray(0, used)]);
  return result.length < inputBytes ? result : null;
}

/**
 * Writes `count` tokens (see the token layout above) with the codes in `codeOf`
 * (length << 16 | code, by slot << 8 | symbol), a restart marker before each
 * token index in `restarts`, and EOI, into `bytes`; returns the bytes used.
 * The same bytes as BitWriter's put/marker calls (tests compare the two), with
 * the writer in local variables for the same reason as tokenise's reader, and
 * a code and its extra bits put at once where they fit.
 */
export function encodeTokens(tokens: Int32Array, count: number, restarts: readonly number[], codeOf: Int32Array, bytes: Uint8Array): number {
  let used = 0;
  /** Bits not yet written are the low `nbits` of `acc`: 0..7 between tokens. */
  let acc = 0;
  let nbits = 0;
  let restart = 0;
  let nextRestartAt = restarts.length > 0 ? restarts[0]! : -1;
  for (let i = 0; ; i++) {
    if (i === nextRestartAt || i === count) {
      // Pad the last byte with one bits (T.81 F.1.2.3), then the marker, unstuffed: a restart, or EOI after the last token.
      if (nbits > 0) {
        const byte = ((acc << (8 - nbits)) | (0xff >> nbits)) & 0xff;
        bytes[used++] = byte;
        if (byte === 0xff) bytes[used++] = 0;
        nbits = 0;
      }
      bytes[used++] = 0xff;
      if (i === count) {
        bytes[used++] = EOI;
        return used;
      }
      bytes[used++] = RST0 + (restart & 7);
      restart++;
      nextRestartAt = restart < restarts.length ? restarts[restart]! : -1;
    }
    const token = tokens[i]!;
    const code = codeOf[token & 0x7ff]!;
    const codeLength = code >>> 16;
    const n = token & 15;
    // Code and extra bits go in at once where they fit: with at most 7 bits waiting, 24 more make 31.
    // A long code with many extra bits (up to 16 + 15) goes in as two pieces, the code first.
    const together = codeLength + n <= 24;
    let value = together ? ((code & 0xffff) << n) | (token >>> EXTRA_SHIFT) : code & 0xffff;
    let length = together ? codeLength + n : codeLength;
    let second = together ? 0 : n;
    for (;;) {
      acc = (acc << length) | value;
      nbits += length;
      while (nbits >= 8) {
        nbits -= 8;
        const byte = (acc >>> nbits) & 0xff;
        bytes[used++] = byte;
        if (byte === 0xff) bytes[used++] = 0;
      }
      if (second === 0) break;
      value = token >>> EXTRA_SHIFT;
      length = second;
      second = 0;
    }
  }
}
