/**
 * One full collection before a cut (with --expose-gc, as workers/process-settings.ts starts the
 * worker), so a download's dead socket buffers are not still held when libvips adds its strips.
 * A tile job and a band job both call it after fetching the original. Figures: docs/memory.md.
 */

/** Buffers still held after the worker's last forced collection: what it keeps alive between jobs. */
let buffersAfterLastCollection = 0;
/** Dead Buffers worth a forced collection: below this, the collection costs more than it frees. */
const COLLECT_ABOVE_BYTES = 16 * 1024 * 1024;

/**
 * Collects now if the Buffers held are worth it: a forced collection also drops the previous job's
 * optimised code, which the next job pays for in CPU.
 */
export function releaseGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc || !worthCollecting(process.memoryUsage().arrayBuffers, buffersAfterLastCollection)) return;
  gc();
  buffersAfterLastCollection = process.memoryUsage().arrayBuffers;
}

/** Whether Buffers now held, against those held after the last collection, are worth one. */
export function worthCollecting(buffersNow: number, buffersAfterLast: number): boolean {
  return buffersNow - buffersAfterLast >= COLLECT_ABOVE_BYTES;
}
