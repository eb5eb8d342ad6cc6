/**
 * JPEG Huffman coding, both ways (ITU T.81 Annex C, F.2.2 and K.2).
 *
 * Decoding: a table is checked as libjpeg checks it (jdhuff.c,
 * jpeg_make_d_derived_tbl) and gets a 9-bit lookahead table, so most symbols
 * are found with one array read; longer codes go the canonical way. The bit
 * reader works on JpegReader's window: it undoes 0xFF00 stuffing and stops at
 * any marker, feeding zero bits from there on; bits consumed past the end of
 * the data show as `overrun`, which callers treat as damage.
 *
 * Encoding: optimal tables from symbol counts, limited to 16-bit codes, the
 * way libjpeg's jpeg_gen_optimal_table (jchuff.c) does it, and a bit writer
 * that stuffs 0xFF bytes.
 */
/** The bytes the bit reader consumes, `buf[pos..end)`: JpegReader's window over a file, or a whole file in memory. */
export interface ByteWindow {
  buf: Uint8Array;
  pos: number;
  end: number;
}

export interface HuffmanSpec {
  /** counts[l]: how many codes have length l, for l = 1..16 (counts[0] unused). */
  counts: Uint8Array;
  /** Symbols in order of increasing code length. */
  symbols: Uint8Array;
}

const LOOKAHEAD = 9;

export class DecodeTable {
  /** Indexed by the next LOOKAHEAD bits: (code length << 8) | symbol, 0 when the code is longer. */
  readonly look = new Uint16Array(1 << LOOKAHEAD);
  /** Largest code of each length, -1 when there is none (index 17: a sentinel). */
  readonly maxcode = new Int32Array(18);
  /** valOffset[l] + code = index in symbols of a code of length l. */
  readonly valOffset = new Int32Array(17);
  readonly symbols: Uint8Array;

  /** Throws (through `corrupt`) for a table libjpeg would reject: too many codes for their lengths, DC symbols above 15. */
  constructor(spec: HuffmanSpec, isDc: boolean, corrupt: (detail: string) => Error) {
    this.symbols = spec.symbols;
    let code = 0;
    let k = 0;
    for (let l = 1; l <= 16; l++) {
      const n = spec.counts[l]!;
      this.valOffset[l] = k - code;
      for (let i = 0; i < n; i++, k++, code++) {
        if (l <= LOOKAHEAD) {
          const first = code << (LOOKAHEAD - l);
          this.look.fill((l << 8) | spec.symbols[k]!, first, first + (1 << (LOOKAHEAD - l)));
        }
      }
      // No code may be all ones, so the next free code must still fit in l bits.
      if (n > 0 && code >= 1 << l) throw corrupt('invalid Huffman table (more codes than their lengths allow)');
      this.maxcode[l] = n > 0 ? code - 1 : -1;
      code <<= 1;
    }
    this.maxcode[17] = 0x7fffffff;
    if (isDc && spec.symbols.some((s) => s > 15)) throw corrupt('invalid DC Huffman table (symbol above 15)');
  }

  /**
   * The code at the start of `peek` (the next 16 bits of the scan, first bit highest):
   * (code length << 8) | symbol, or 0 when no code of up to 16 bits matches (damaged data).
   * Most codes are found in `look`; longer ones the canonical way (T.81 F.2.2.3).
   */
  lookUp(peek: number): number {
    const hit = this.look[peek >>> (16 - LOOKAHEAD)]!;
    if (hit !== 0) return hit;
    let l = LOOKAHEAD + 1;
    let code = peek >>> (16 - l);
    while (code > this.maxcode[l]!) code = peek >>> (16 - ++l);
    return l > 16 ? 0 : (l << 8) | this.symbols[this.valOffset[l]! + code]!;
  }
}

/** Whether an entropy-coded byte reader has run past the data, and how many zero bits it has fed since. */
export interface EntropyEnd {
  /** Zero bits fed after the data ended (marker or end of window). */
  fake: number;
  /** A marker (or the window's end) was reached: only zero bytes from here on. */
  ended: boolean;
}

/**
 * The next byte of entropy-coded data at `src.pos`, which it advances: 0xFF00 is a 0xFF byte; any
 * other marker, or the window's end, ends the data, and zero bytes follow (counted in `end.fake`,
 * so that a reader can tell bits it used past the end: truncated data).
 * A 0xFF at the window's end cannot be told apart from a marker; JpegReader's window always holds
 * far more than one MCU needs (MIN_WINDOW, jpeg-progressive-scan.ts), and a whole file ends there, so this is the end.
 */
export function nextEntropyByte(src: ByteWindow, end: EntropyEnd): number {
  if (!end.ended) {
    const { buf, pos } = src;
    if (pos < src.end && (buf[pos] !== 0xff || (pos + 1 < src.end && buf[pos + 1] === 0))) {
      const byte = buf[pos]!;
      src.pos = pos + (byte === 0xff ? 2 : 1);
      return byte;
    }
    end.ended = true;
  }
  end.fake += 8;
  return 0;
}

/** Reads entropy-coded bits from a byte window. With JpegReader's, the caller keeps the window filled (JpegReader.ensure) between MCUs. */
export class EntropyReader {
  private acc = 0;
  private nbits = 0;
  private readonly state: EntropyEnd = { fake: 0, ended: false };

  constructor(private readonly src: ByteWindow, private readonly corrupt: (detail: string) => Error) {}

  /** Drops buffered bits: at a restart marker and at the end of a scan. */
  reset(): void {
    this.acc = this.nbits = this.state.fake = 0;
    this.state.ended = false;
  }

  /** More bits were consumed than the data held: it is truncated or damaged. */
  get overrun(): boolean {
    return this.nbits < this.state.fake;
  }

  /** Tops the accumulator up to 25..32 bits. */
  private fill(): void {
    while (this.nbits <= 24) {
      this.acc = (this.acc << 8) | nextEntropyByte(this.src, this.state);
      this.nbits += 8;
    }
  }

  /** The next n bits (0..16) as an unsigned number. */
  bits(n: number): number {
    if (n === 0) return 0;
    if (this.nbits < n) this.fill();
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  bit(): number {
    if (this.nbits < 1) this.fill();
    this.nbits -= 1;
    return (this.acc >>> this.nbits) & 1;
  }

  decode(t: DecodeTable): number {
    if (this.nbits < 16) this.fill();
    const hit = t.lookUp((this.acc >>> (this.nbits - 16)) & 0xffff);
    if (hit === 0) throw this.corrupt('invalid Huffman code in the image data');
    this.nbits -= hit >>> 8;
    return hit & 0xff;
  }
}

/** T.81 F.2.2.1 EXTEND: the n-bit magnitude v as a signed value. */
export function extend(v: number, n: number): number {
  return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
}

/**
 * Optimal code lengths for these symbol counts, at most 16 bits, no code all
 * ones: libjpeg's jpeg_gen_optimal_table (T.81 K.2), with a reserved
 * pseudo-symbol 256 and the K.3 length adjustment. `freq` is left as it was.
 */
export function optimalSpec(freq: Float64Array | Int32Array): HuffmanSpec {
  const f = scratch.f;
  f.set(freq.subarray(0, 256));
  f[256] = 1;
  // The two smallest nonzero counts, on ties the larger symbol number, as libjpeg picks them by
  // scanning all 257 counts for each pair: here from a heap ordered the same way, which gives the
  // same pairs in O(n log n) (a tile's four tables are built thousands of times an image).
  // libjpeg then lengthens the code of every symbol under both by one, walking chains; the same
  // lengths are the leaves' depths in the tree of merges, found here in one pass at the end.
  // Tree nodes: 0..256 the symbols, 257.. one per merge; subtree[c]: the node symbol c stands for.
  const { parent, subtree, depth: codesize } = scratch;
  parent.fill(-1);
  scratch.heapSize = 0;
  for (let i = 0; i <= 256; i++) {
    subtree[i] = i;
    if (f[i]! > 0) heapPush(i);
  }
  let nodes = 257;
  for (;;) {
    const c1 = heapPop();
    const c2 = heapPop();
    if (c2 < 0) break;
    f[c1]! += f[c2]!;
    f[c2] = 0;
    heapPush(c1);
    parent[subtree[c1]!] = parent[subtree[c2]!] = nodes;
    subtree[c1] = nodes++;
  }
  // A parent is made after its children: going down from the last node, its depth is known first.
  // The first 257 depths are the symbols' code lengths (0: unused symbol).
  for (let n = nodes - 1; n >= 0; n--) codesize[n] = parent[n]! >= 0 ? codesize[parent[n]!]! + 1 : 0;
  let maxLength = 0;
  for (let i = 0; i <= 256; i++) if (codesize[i]! > maxLength) maxLength = codesize[i]!;
  const bits = scratch.bits;
  bits.fill(0);
  for (let i = 0; i <= 256; i++) if (codesize[i]! > 0) bits[codesize[i]!]!++;
  // Move pairs of over-long codes up the tree until nothing is longer than 16 bits.
  for (let i = maxLength; i > 16; i--) {
    while (bits[i]! > 0) {
      let j = i - 2;
      while (bits[j] === 0) j--;
      bits[i]! -= 2;
      bits[i - 1]!++;
      bits[j + 1]! += 2;
      bits[j]!--;
    }
  }
  let longest = 16;
  while (bits[longest] === 0) longest--;
  bits[longest]!--; // the pseudo-symbol's code
  const counts = new Uint8Array(17);
  for (let l = 1; l <= 16; l++) counts[l] = bits[l]!;
  // Symbols by code length, ascending within a length (a counting sort: one pass, not one per length).
  const firstOfLength = scratch.firstOfLength;
  firstOfLength.fill(0);
  for (let s = 0; s < 256; s++) if (codesize[s]! > 0) firstOfLength[codesize[s]! + 1]!++;
  for (let l = 1; l <= maxLength + 1; l++) firstOfLength[l]! += firstOfLength[l - 1]!;
  const symbols = new Uint8Array(firstOfLength[maxLength + 1]!);
  for (let s = 0; s < 256; s++) if (codesize[s]! > 0) symbols[firstOfLength[codesize[s]!]!++] = s;
  return { counts, symbols };
}

/**
 * optimalSpec's working arrays, made once: re-optimising tiles calls it four
 * times a tile (jpeg-huffman-optimise.ts), and making typed arrays this large
 * (off the JS heap) costs more than the work done in them.
 */
const scratch = {
  f: new Float64Array(257),
  parent: new Int32Array(2 * 257),
  subtree: new Int32Array(257),
  /** Depth of every tree node. */
  depth: new Int32Array(2 * 257),
  /** Code lengths can reach 256 before they are limited to 16. */
  bits: new Int32Array(258),
  firstOfLength: new Int32Array(259),
  heap: new Int32Array(257),
  heapSize: 0,
};

/** Heap order: the smaller count first, the larger symbol first among equal counts. */
function heapBefore(a: number, b: number): boolean {
  const fa = scratch.f[a]!;
  const fb = scratch.f[b]!;
  return fa < fb || (fa === fb && a > b);
}

function heapPush(symbol: number): void {
  const heap = scratch.heap;
  let at = scratch.heapSize++;
  while (at > 0) {
    const up = (at - 1) >> 1;
    if (!heapBefore(symbol, heap[up]!)) break;
    heap[at] = heap[up]!;
    at = up;
  }
  heap[at] = symbol;
}

/** The first symbol, removed; -1 when empty. */
function heapPop(): number {
  if (scratch.heapSize === 0) return -1;
  const heap = scratch.heap;
  const top = heap[0]!;
  const size = --scratch.heapSize;
  const last = heap[size]!;
  let at = 0;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= size) break;
    if (child + 1 < size && heapBefore(heap[child + 1]!, heap[child]!)) child++;
    if (!heapBefore(heap[child]!, last)) break;
    heap[at] = heap[child]!;
    at = child;
  }
  heap[at] = last;
  return top;
}

/** Code and length of every symbol of a table (T.81 C.2). */
export class EncodeTable {
  readonly code = new Uint16Array(256);
  readonly size = new Uint8Array(256);

  constructor(readonly spec: HuffmanSpec) {
    let code = 0;
    let k = 0;
    for (let l = 1; l <= 16; l++) {
      for (let i = 0; i < spec.counts[l]!; i++, k++, code++) {
        this.code[spec.symbols[k]!] = code;
        this.size[spec.symbols[k]!] = l;
      }
      code <<= 1;
    }
  }

  /** The DHT entry: class/slot byte, 16 counts, symbols. */
  dhtEntry(tc: number, th: number): Buffer {
    return Buffer.concat([Buffer.from([(tc << 4) | th]), this.spec.counts.subarray(1), this.spec.symbols]);
  }
}

/** Packs bits MSB first into a byte buffer, stuffing a 0x00 after every 0xFF (T.81 F.1.2.3). */
export class BitWriter {
  readonly out: Uint8Array;
  used = 0;
  private acc = 0;
  private nbits = 0;

  constructor(size: number) {
    this.out = new Uint8Array(size);
  }

  /** Appends the low n bits (0..16) of v. */
  put(v: number, n: number): void {
    this.acc = (this.acc << n) | (v & ((1 << n) - 1));
    this.nbits += n;
    while (this.nbits >= 8) {
      this.nbits -= 8;
      const byte = (this.acc >>> this.nbits) & 0xff;
      this.out[this.used++] = byte;
      if (byte === 0xff) this.out[this.used++] = 0;
    }
  }

  /** Pads the last byte with one bits, as T.81 F.1.2.3 asks before a marker. */
  padToByte(): void {
    if (this.nbits > 0) this.put(0x7f, 8 - this.nbits);
  }

  /** Pads to a byte, then writes the marker 0xFF `code` unstuffed (a restart marker inside a scan). */
  marker(code: number): void {
    this.padToByte();
    this.out[this.used++] = 0xff;
    this.out[this.used++] = code;
  }

  /** The bytes written so far (a view: write it out before the next put) and starts the buffer over; bits short of a byte stay. */
  take(): Uint8Array {
    const bytes = this.out.subarray(0, this.used);
    this.used = 0;
    return bytes;
  }
}
