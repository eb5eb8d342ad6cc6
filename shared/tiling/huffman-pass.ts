/**
 * The second half of the direct JPEG encoder (dzsave-direct.ts): as dzsave
 * finishes each row of tiles, every tile of the row is re-coded in place with
 * optimal Huffman tables (jpeg-huffman-optimise.ts: lossless, the same pixels,
 * about 15% fewer bytes), and only then is the row passed on to the next sink,
 * the worker's uploader. It runs on the JS thread while libvips' threads go on
 * cutting, so most of it hides behind the cut.
 *
 * A tile it cannot make smaller is left as dzsave wrote it (still a valid JPEG).
 */
import { writeFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { optimiseHuffman } from './jpeg-huffman-optimise.js';
import { readCompleteTile, type TileRow, type TileSink } from './tile-rows.js';

export interface HuffmanPassStats {
  tiles: number;
  /** Tiles left as they were (not a kind the pass rewrites, or no smaller). */
  unchanged: number;
  bytesBefore: number;
  bytesAfter: number;
}

export class HuffmanPass implements TileSink {
  readonly stats: HuffmanPassStats = { tiles: 0, unchanged: 0, bytesBefore: 0, bytesAfter: 0 };
  /** Rows are rewritten one after another, in the order dzsave finished them. */
  private work: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | null = null;

  /** `next` gets each row once all its tiles are final on disk. */
  constructor(private readonly next?: TileSink) {}

  row(row: TileRow): void {
    this.work = this.work.then(async () => {
      if (this.failure) return;
      try {
        await this.rewriteRow(row);
        this.next?.row(row);
      } catch (err) {
        this.failure = { err };
      }
    });
  }

  /** Resolves once every row handed over so far is rewritten on disk; rejects with the first failure. */
  async optimised(): Promise<void> {
    await this.work;
    if (this.failure) throw this.failure.err;
  }

  /** Rewritten, then drained by the next sink. */
  async drain(): Promise<void> {
    await this.optimised();
    await this.next?.drain();
  }

  private async rewriteRow(row: TileRow): Promise<void> {
    for (const file of row.files) {
      const before = await readCompleteTile(file);
      const after = optimiseHuffman(before);
      this.stats.tiles++;
      this.stats.bytesBefore += before.length;
      if (after) {
        // Synchronous, as readCompleteTile's first read: a few KB into the page cache.
        writeFileSync(file.abs, after);
        this.stats.bytesAfter += after.length;
      } else {
        this.stats.unchanged++;
        this.stats.bytesAfter += before.length;
      }
      // One tile per turn of the event loop: sockets and timers (the worker's uploads) get in between.
      await nextTurn();
    }
  }
}
