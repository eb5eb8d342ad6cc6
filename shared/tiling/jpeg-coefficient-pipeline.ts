/**
 * The coefficients of a progressive JPEG a few MCU rows at a time, handed from pass to pass: every
 * scan's decoder and the final pass (the baseline encoder, or its symbol count) run at once, each
 * working on an earlier chunk than the pass before it. A scan's data for MCU row m only changes
 * the coefficients of row m, so once every scan has decoded a chunk it is final and the encoder
 * can code it. No pass needs the image's coefficients at once, and none goes through a file:
 * memory is at most MAX_CHUNKS_IN_FLIGHT chunks of about a megabyte
 * (docs/performance.md, "Hard inputs": the coefficients of the whole image in a temporary file,
 * read and written back once per scan, cost 4.6 s of system time at 236 MP).
 *
 * Stages are numbered in the order their work applies (scan order, then the final pass); stage s
 * takes chunk i once every earlier stage has finished it.
 */
import { BLOCK_STRIDE, type Chunk, type CoefficientPasses, type ComponentGrid } from './jpeg-coefficient-blocks.js';

const CHUNK_BYTES = 1024 * 1024;
/** Chunks alive at once: the first stage waits when it is this far ahead of the last. */
const MAX_CHUNKS_IN_FLIGHT = 4;

interface Held {
  coefficients: Int16Array[];
  maps: Int32Array[];
}

export class CoefficientPipeline {
  /** Chunks each stage has finished; Infinity once its pass has ended (it needs no more). */
  private readonly progress: number[];
  private readonly held = new Map<number, Held>();
  private readonly spare: Held[] = [];
  private waiters: Array<() => void> = [];
  private failure: Error | undefined;
  private readonly bandsPerChunk: number;

  constructor(private readonly grids: ComponentGrid[], stages: number) {
    this.progress = new Array<number>(stages).fill(0);
    const bandBytes = grids.reduce((sum, g) => sum + g.bandRows * g.blocksPerLine * BLOCK_STRIDE * 2, 0);
    this.bandsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / bandBytes));
  }

  /** Stage `s`'s view: the pass it makes over the coefficients. */
  stage(s: number): CoefficientPasses {
    return { pass: (components, bands, _writeBack, work) => this.pass(s, components, bands, work) };
  }

  /** Stops every stage: each waiting one rejects with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private async pass(s: number, components: number[], bands: number, work: (chunk: Chunk) => void | Promise<void>): Promise<void> {
    const chunks = Math.ceil(bands / this.bandsPerChunk);
    try {
      for (let i = 0; i < chunks; i++) {
        const held = await this.take(s, i);
        const first = i * this.bandsPerChunk;
        const count = Math.min(this.bandsPerChunk, bands - first);
        await work({
          first,
          count,
          coefficients: components.map((c) => held.coefficients[c]!),
          maps: components.map((c) => held.maps[c]!),
        });
        this.progress[s] = i + 1;
        this.release();
      }
    } finally {
      this.progress[s] = Infinity;
      this.release();
    }
  }

  /** Chunk i for stage s: once every earlier stage is done with it (made, zeroed, when it is new). */
  private async take(s: number, i: number): Promise<Held> {
    for (;;) {
      if (this.failure) throw this.failure;
      const ready = this.progress.slice(0, s).every((p) => p > i);
      const held = this.held.get(i);
      if (ready && held) return held;
      // A chunk is made by the first stage to need it, within the in-flight bound.
      if (ready && i < this.oldestNeeded() + MAX_CHUNKS_IN_FLIGHT) return this.make(i);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private make(i: number): Held {
    const reused = this.spare.pop();
    if (reused) {
      for (const c of reused.coefficients) c.fill(0);
    }
    const held = reused ?? this.allocate();
    this.held.set(i, held);
    return held;
  }

  private allocate(): Held {
    const coefficients = this.grids.map((g) => new Int16Array(g.bandRows * g.blocksPerLine * BLOCK_STRIDE * this.bandsPerChunk));
    return { coefficients, maps: coefficients.map((c) => new Int32Array(c.buffer, c.byteOffset, c.length / 2)) };
  }

  /** The first chunk some stage may still need. */
  private oldestNeeded(): number {
    return Math.min(...this.progress);
  }

  /** Frees the chunks every stage has finished, and lets waiting stages look again. */
  private release(): void {
    const oldest = this.oldestNeeded();
    for (const [i, held] of this.held) {
      if (i < oldest) {
        this.held.delete(i);
        this.spare.push(held);
      }
    }
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const resolve of waiting) resolve();
  }
}
