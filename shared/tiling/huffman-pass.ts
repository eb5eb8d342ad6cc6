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
import type { RowAnswer, ThreadRequest } from './huffman-pass-thread.js';
import type { TileFile, TileRow, TileSink } from './tile-rows.js';

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

interface PassEnd {
  answered(answer: RowAnswer): void;
  threadLost(err: unknown): void;
}

/**
 * The process's one re-coding thread, shared by every pass and kept between jobs: a thread started
 * per job compiled the re-coder from cold every time (bench/huffman-pass.ts: 1.18 CPU-s for a 236 MP
 * tile set from cold, 1.05 warm; in whole service jobs the gain was within the noise,
 * bench/results/history.md). It keeps the process alive only while rows are
 * outstanding. Should it die, the passes waiting on it fail and the next row starts a new one.
 */
class RecodingThread {
  private thread: Worker | undefined;
  private readonly passes = new Map<number, PassEnd>();
  private lastPass = 0;
  /** Rows sent and not answered yet, over all passes (cancelled ones included: they are answered too). */
  private outstanding = 0;

  register(pass: PassEnd): number {
    const id = ++this.lastPass;
    this.passes.set(id, pass);
    return id;
  }

  send(pass: number, files: TileFile[]): void {
    const thread = this.start();
    if (this.outstanding++ === 0) thread.ref();
    thread.postMessage({ kind: 'row', pass, files } satisfies ThreadRequest);
  }

  /** The pass hears no more; its rows still queued are skipped when cancel is set. */
  release(pass: number, cancel: boolean): void {
    this.passes.delete(pass);
    if (cancel) this.thread?.postMessage({ kind: 'cancel', pass } satisfies ThreadRequest);
  }

  /** For tests: which thread serves the passes now. */
  threadId(): number | undefined {
    return this.thread?.threadId;
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread();
    thread.unref();
    thread.on('message', (answer: RowAnswer) => {
      if (--this.outstanding === 0) thread.unref();
      this.passes.get(answer.pass)?.answered(answer);
    });
    thread.on('error', (err) => this.lost(thread, err));
    thread.on('exit', (code) => this.lost(thread, new HugemapError('HUGEMAP_ERR_INTERNAL', `Huffman pass thread exited (${code})`)));
    this.thread = thread;
    return thread;
  }

  private lost(thread: Worker, err: unknown): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    this.outstanding = 0;
    for (const pass of this.passes.values()) pass.threadLost(err);
  }
}

const recodingThread = new RecodingThread();

/** For tests: the id of the thread that re-codes tiles now, undefined before the first row. */
export function recodingThreadId(): number | undefined {
  return recodingThread.threadId();
}

export class HuffmanPass implements TileSink, PassEnd {
  private readonly pass: number;
  private released = false;
  /** Rows sent to the thread and not answered yet, oldest first (answers come in this order). */
  private readonly sent: TileRow[] = [];
  private failure: { err: unknown } | null = null;
  private waiters: Array<() => void> = [];

  /** `next` gets each row once all its tiles are final on disk. */
  constructor(private readonly next?: TileSink) {
    this.pass = recodingThread.register(this);
  }

  row(row: TileRow): void {
    if (this.failure || this.released) return;
    this.sent.push(row);
    recodingThread.send(this.pass, row.files);
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

  /**
   * Done with this pass: call after `optimised`, or to abandon it, when its rows still queued are
   * skipped (the shared thread goes on with other passes' rows).
   */
  async close(): Promise<void> {
    if (this.released) return;
    this.released = true;
    recodingThread.release(this.pass, this.sent.length > 0);
    if (this.sent.length > 0) this.fail(new HugemapError('HUGEMAP_ERR_INTERNAL', 'Huffman pass closed with rows left'));
  }

  answered(answer: RowAnswer): void {
    const row = this.sent.shift();
    if (!answer.ok) {
      this.fail(new HugemapError(answer.code, answer.message));
      return;
    }
    if (row && !this.failure) this.next?.row(row);
    if (this.sent.length === 0) this.wake();
  }

  threadLost(err: unknown): void {
    if (this.sent.length > 0) this.fail(err);
  }

  private fail(err: unknown): void {
    this.failure ??= { err };
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
