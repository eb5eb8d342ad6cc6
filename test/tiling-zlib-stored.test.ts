/** Stored zlib blocks built by hand (zlib-stored.ts): what zlib itself computes and inflates. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { adler32, StoredZlibStream } from '../shared/tiling/zlib-stored.js';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
}

/** zlib's Adler-32 of `data`: the last four bytes of its stream. */
const zlibAdler = (data: Buffer) => deflateSync(data, { level: 0 }).readUInt32BE(deflateSync(data, { level: 0 }).length - 4);

test('adler32 is zlib\'s, at every length around its 16-byte steps and its 5552-byte reduction, in one call or many', () => {
  for (const n of [0, 1, 15, 16, 17, 5551, 5552, 5553, 65536, 300_001]) {
    // All 0xff is the worst case for the sums' growth between reductions.
    for (const data of [bytes(n, n + 1), Buffer.alloc(n, 0xff)]) {
      assert.equal(adler32(data), zlibAdler(data), `${n} bytes`);
      let running = 1;
      for (let at = 0; at < n; at += 7777) running = adler32(data.subarray(at, at + 7777), running);
      assert.equal(running, zlibAdler(data), `${n} bytes in pieces`);
    }
  }
});

test('a stream of stored blocks inflates to the bytes written, pieces of any size, framed where asked', () => {
  for (const sizes of [[], [0], [1], [65535], [65536], [200_000, 3, 70_000], [10, 0, 131_071]]) {
    const stream = new StoredZlibStream();
    const pieces = sizes.map((n, i) => bytes(n, i + 7));
    const parts: Buffer[] = [];
    for (const piece of pieces) {
      // Room before and after, as a PNG chunk's length, type and CRC need: left untouched.
      const out = Buffer.alloc(8 + stream.size(piece.length) + 4, 0xaa);
      assert.equal(stream.wrap(piece, out, 8), out.length - 4, `${sizes}: wrap fills exactly size() bytes`);
      assert.ok(out.subarray(0, 8).equals(Buffer.alloc(8, 0xaa)) && out.subarray(-4).equals(Buffer.alloc(4, 0xaa)));
      parts.push(out.subarray(8, out.length - 4));
    }
    const end = Buffer.alloc(stream.endSize());
    assert.equal(stream.end(end, 0), end.length);
    parts.push(end);
    // inflateSync checks the header and the Adler-32 at the end.
    assert.ok(inflateSync(Buffer.concat(parts)).equals(Buffer.concat(pieces)), `pieces of ${sizes.join(', ')}`);
  }
});
