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
import type { JpegReader } from './jpeg-markers.js';

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
}

/** Reads entropy-coded bits from a JpegReader's window. The caller keeps the window filled (JpegReader.ensure) between MCUs. */
export class EntropyReader {
  private acc = 0;
  private nbits = 0;
  /** Zero bits fed after the data ended (marker or end of window). */
  private fake = 0;
  private ended = false;

  constructor(private readonly src: JpegReader, private readonly corrupt: (detail: string) => Error) {}

  /** Drops buffered bits: at a restart marker and at the end of a scan. */
  reset(): void {
    this.acc = this.nbits = this.fake = 0;
    this.ended = false;
  }

  /** More bits were consumed than the data held: it is truncated or damaged. */
  get overrun(): boolean {
    return this.nbits < this.fake;
  }

  /** Tops the accumulator up to 25..32 bits. */
  private fill(): void {
    const src = this.src;
    const buf = src.buf;
    const end = src.end;
    let pos = src.pos;
    while (this.nbits <= 24) {
      let byte = 0;
      if (!this.ended) {
        // A 0xFF at the window's end cannot be told apart from a marker; the window always
        // holds far more than one MCU needs (see MIN_WINDOW), so this is the end of the file.
        if (pos >= end || (buf[pos] === 0xff && (pos + 1 >= end || buf[pos + 1] !== 0))) {
          this.ended = true;
        } else {
          byte = buf[pos]!;
          pos += byte === 0xff ? 2 : 1;
        }
      }
      if (this.ended) this.fake += 8;
      this.acc = (this.acc << 8) | byte;
      this.nbits += 8;
    }
    src.pos = pos;
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
    const peek = (this.acc >>> (this.nbits - 16)) & 0xffff;
    const hit = t.look[peek >>> (16 - LOOKAHEAD)]!;
    if (hit !== 0) {
      this.nbits -= hit >>> 8;
      return hit & 0xff;
    }
    let l = LOOKAHEAD + 1;
    let code = peek >>> (16 - l);
    while (code > t.maxcode[l]!) code = peek >>> (16 - ++l);
    if (l > 16) throw this.corrupt('invalid Huffman code in the image data');
    this.nbits -= l;
    return t.symbols[t.valOffset[l]! + code]!;
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
export function optimalSpec(freq: Float64Array): HuffmanSpec {
  const f = new Float64Array(257);
  f.set(freq.subarray(0, 256));
  f[256] = 1;
  const codesize = new Int32Array(257);
  const others = new Int32Array(257).fill(-1);
  for (;;) {
    // The two smallest nonzero counts; on ties the larger symbol number, as libjpeg.
    let c1 = -1;
    let c2 = -1;
    for (let i = 0; i <= 256; i++) if (f[i]! > 0 && (c1 < 0 || f[i]! <= f[c1]!)) c1 = i;
    for (let i = 0; i <= 256; i++) if (f[i]! > 0 && i !== c1 && (c2 < 0 || f[i]! <= f[c2]!)) c2 = i;
    if (c2 < 0) break;
    f[c1]! += f[c2]!;
    f[c2] = 0;
    codesize[c1]!++;
    while (others[c1]! >= 0) codesize[(c1 = others[c1]!)]!++;
    others[c1] = c2;
    codesize[c2]!++;
    while (others[c2]! >= 0) codesize[(c2 = others[c2]!)]!++;
  }
  const maxLength = Math.max(...codesize);
  const bits = new Int32Array(Math.max(maxLength, 16) + 1);
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
  const symbols: number[] = [];
  for (let l = 1; l <= maxLength; l++) for (let s = 0; s < 256; s++) if (codesize[s] === l) symbols.push(s);
  return { counts, symbols: Uint8Array.from(symbols) };
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

  /** The bytes written so far (a view: write it out before the next put) and starts the buffer over; bits short of a byte stay. */
  take(): Uint8Array {
    const bytes = this.out.subarray(0, this.used);
    this.used = 0;
    return bytes;
  }
}
