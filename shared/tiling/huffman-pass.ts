/**
 * The second half of the direct JPEG encoder (dzsave-direct.ts): as dzsave
 * finishes each row of tiles, every tile of the row is re-coded in place with
 * optimal Huffman tables (jpeg-huffman-optimise.ts: lossless, the same pixels,
 * about 15% fewer bytes), and only then is the row passed on to the next sink,
 * the worker's uploader.
 *
 * The re-coding runs on a thread of its own (huffman-pass-thread.ts): on the
 * JS thread it would compete with the uploads, whose requests are also JS work,
 * and the two together are more than one core's worth (measured: the service
 * path went from 9.5 to 12.1 s on the 236 MP photo with both on one thread).
 *
 * A tile it cannot make smaller is left as dzsave wrote it (still a valid JPEG).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HugemapError } from '../errors.js';
import type { RowAnswer, RowRequest } from './huffman-pass-thread.js';
import type { TileRow, TileSink } from './tile-rows.js';

/**
 * Bounded memory: the thread holds one tile and its re-coding at a time (under 1 MB), but V8 would
 * let a fresh isolate's young generation grow to tens of MB of short-lived buffers before collecting.
 */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

/**
 * The thread runs the module beside this one: huffman-pass-thread.js when compiled; the .ts when
 * this runs from source (tests, tsx), and then the thread needs tsx's loader too: a thread does not
 * get the loader hooks of the thread that starts it.
 */
function startThread(): Worker {
  if (extname(fileURLToPath(import.meta.url)) !== '.ts') return new Worker(new URL('./huffman-pass-thread.js', import.meta.url), { resourceLimits: THREAD_LIMITS });
  const source = new URL('./huffman-pass-thread.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`, { eval: true, resourceLimits: THREAD_LIMITS });
}

export class HuffmanPass implements TileSink {
  private thread: Worker | undefined;
  /** Rows sent to the thread and not answered yet, oldest first (answers come in this order). */
  private readonly sent: TileRow[] = [];
  private failure: { err: unknown } | null = null;
  private waiters: Array<() => void> = [];

  /** `next` gets each row once all its tiles are final on disk. */
  constructor(private readonly next?: TileSink) {}

  row(row: TileRow): void {
    if (this.failure) return;
    this.sent.push(row);
    const request: RowRequest = { files: row.files };
    this.start().postMessage(request);
  }

  /** Resolves once every row handed over so far is rewritten on disk; rejects with the first failure. */
  async optimised(): Promise<void> {
    if (this.sent.length > 0 && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure.err;
  }

  /** Rewritten, then drained by the next sink. */
  async drain(): Promise<void> {
    await this.optimised();
    await this.next?.drain();
  }

  /** Stops the thread (whatever it is doing: call after `optimised`, or to abandon). */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    await thread?.terminate();
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread();
    thread.on('message', (answer: RowAnswer) => this.answered(answer));
    thread.on('error', (err) => this.fail(err));
    thread.on('exit', (code) => {
      if (this.thread === thread && this.sent.length > 0) this.fail(new HugemapError('HUGEMAP_ERR_INTERNAL', `Huffman pass thread exited (${code}) with ${this.sent.length} rows left`));
    });
    this.thread = thread;
    return thread;
  }

  private answered(answer: RowAnswer): void {
    const row = this.sent.shift();
    if (!answer.ok) {
      this.fail(new HugemapError(answer.code, answer.message));
      return;
    }
    if (row && !this.failure) this.next?.row(row);
    if (this.sent.length === 0) this.wake();
  }

  private fail(err: unknown): void {
    this.failure ??= { err };
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
