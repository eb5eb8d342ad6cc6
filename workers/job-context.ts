/** What every stage of a tiling job gets: the job's image, its folder, and the services. */
import path from 'node:path';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import type { ImageDoc } from '../shared/image-status.js';
import type { StatusStore } from '../shared/status-store.js';
import type { S3Store } from '../shared/storage/s3-store.js';
import type { SplitQueue } from './stages/split.js';
import type { WorkerMetrics } from './metrics.js';

export interface WorkerDeps {
  config: Config;
  store: StatusStore;
  s3: S3Store;
  logger: Logger;
  /** Where a large image's parts are queued; without it every image is cut whole. */
  splitQueue?: SplitQueue;
  /** Prometheus metrics (workers/metrics.ts); absent: nothing is measured. */
  metrics?: WorkerMetrics;
}

export interface JobContext extends WorkerDeps {
  id: string;
  doc: ImageDoc;
  /** Local scratch folder of this image; survives a crash so a restart on the same machine reuses it. */
  dir: string;
  originalPath: string;
  outDir: string;
  /** Status update for progress: at most one write per interval, the last one always lands. */
  report: ThrottledReporter;
}

export function jobPaths(workDir: string, id: string): { dir: string; originalPath: string; outDir: string } {
  const dir = path.join(workDir, id);
  return { dir, originalPath: path.join(dir, 'original'), outDir: path.join(dir, 'out') };
}

/**
 * Status writes for one job. They go out one at a time, in the order they were
 * made: two writes in flight at once could land (and be published to the event
 * stream, status-events.ts) in the other order, and a client would see progress
 * go back.
 */
export class ThrottledReporter {
  private last = 0;
  private pending: Record<string, unknown> | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly write: (set: Record<string, unknown>) => Promise<unknown>,
    private readonly intervalMs = 500,
  ) {}

  /**
   * Sends `set` now if the interval has passed, else keeps it for the next write. Never rejects:
   * callers fire and forget it, and a progress write that fails (the image was deleted meanwhile,
   * the database is away) is only a stale progress figure; the job's next awaited write (`now`)
   * meets the same failure and handles it.
   */
  async progress(set: Record<string, unknown>): Promise<void> {
    const now = Date.now();
    if (now - this.last < this.intervalMs) {
      this.pending = { ...(this.pending ?? {}), ...set };
      return;
    }
    this.last = now;
    this.pending = null;
    await this.send(set).catch(() => undefined);
  }

  /** Writes next (after any write in flight), folding in any progress still pending. */
  async now(set: Record<string, unknown>): Promise<void> {
    const merged = { ...(this.pending ?? {}), ...set };
    this.pending = null;
    this.last = Date.now();
    await this.send(merged);
  }

  private send(set: Record<string, unknown>): Promise<unknown> {
    const sent = this.queue.then(() => this.write(set));
    this.queue = sent.catch(() => undefined); // a failed write is its caller's to handle; the next one still goes
    return sent;
  }
}

/** Overall progress 0..1 from a stage's own fraction. Tiles are uploaded during 'tile', counted as they reach S3. */
const STAGE_SPAN: Record<'fetch' | 'tile' | 'upload', [number, number]> = {
  fetch: [0, 0.1],
  tile: [0.1, 0.98],
  upload: [0.98, 1],
};

export function overallProgress(stage: keyof typeof STAGE_SPAN, fraction: number): number {
  const [a, b] = STAGE_SPAN[stage];
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  return Math.round((a + (b - a) * f) * 1000) / 1000;
}
