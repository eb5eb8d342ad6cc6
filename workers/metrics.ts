/**
 * A worker process's Prometheus metrics, in a Registry of its own (tests run
 * several workers in one process), served with GET /healthz on
 * WORKER_METRICS_PORT by shared/metrics-server.ts. Job outcomes come from the
 * BullMQ worker's events; stage times, tiles and S3 errors from the hooks the
 * job code calls (`deps.metrics?.…`), which are no-ops when metrics are off.
 */
import type { Job, Worker } from 'bullmq';
import type { TileJobData } from '../shared/queue.js';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../shared/process-metrics.js';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { startMetricsServer, type MetricsServer } from '../shared/metrics-server.js';

/** fetch, probe, preview (only when made before the cut), tile (the cut with its thumbnail and every tile's upload), finish. */
export type JobStage = 'fetch' | 'probe' | 'preview' | 'tile' | 'finish';

/** What a job cuts: a whole image (`tile`, which may split it), one band of a split image, or its top levels. */
export type JobKind = 'tile' | 'band' | 'assemble';

export function jobKind(data: Pick<TileJobData, 'part'> | undefined): JobKind {
  return data?.part?.kind ?? 'tile';
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: 'hugemap_jobs_total',
    help: 'Job attempts that ended: done, failed (for good) or retried (another attempt follows); kind: tile, band or assemble (split images)',
    labelNames: ['result', 'kind'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'hugemap_job_duration_seconds',
    help: 'Wall time of job attempts, by how they ended and their kind (tile, band, assemble)',
    labelNames: ['result', 'kind'] as const,
    // A 59 MP image takes seconds, a 944 MP one about 20 s on 2 cores, a slow URL download minutes.
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly stageDuration = new Histogram({
    name: 'hugemap_job_stage_duration_seconds',
    help: 'Wall time of each stage of a job attempt (stages that threw included)',
    labelNames: ['stage'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly tilesUploaded = new Counter({
    name: 'hugemap_tiles_uploaded_total',
    help: 'Tiles PUT to S3 (tiles an earlier attempt already stored are not counted again)',
    registers: [this.registry],
  });
  readonly bytesUploaded = new Counter({
    name: 'hugemap_bytes_uploaded_total',
    help: 'Bytes of tiles PUT to S3',
    registers: [this.registry],
  });
  readonly pixelsTiled = new Counter({
    name: 'hugemap_pixels_tiled_total',
    help: 'Pixels of the images this worker finished (width x height of each original)',
    registers: [this.registry],
  });
  readonly s3Errors = new Counter({
    name: 'hugemap_s3_request_errors_total',
    help: 'S3 requests that failed (each attempt, retried or not), by operation',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly jobActive = new Gauge({
    name: 'hugemap_job_active',
    help: 'Jobs this worker is running now',
    registers: [this.registry],
  });

  constructor() {
    registerProcessMetrics(this.registry);
  }

  /** Runs one stage of a job, timed under hugemap_job_stage_duration_seconds{stage}. */
  async timeStage<T>(stage: JobStage, run: () => Promise<T>): Promise<T> {
    const end = this.stageDuration.startTimer({ stage });
    try {
      return await run();
    } finally {
      end();
    }
  }

  /** For S3Store's `onRequestError`: op is the S3 operation, e.g. PutObject. */
  readonly s3Error = (op: string): void => {
    this.s3Errors.inc({ op });
  };

  /** For TileRowUploader's `onUploaded`: one tile of `bytes` PUT to S3. */
  readonly tileUploaded = (bytes: number): void => {
    this.tilesUploaded.inc();
    this.bytesUploaded.inc(bytes);
  };

  /** Counts jobs and times them from the BullMQ worker's own events. */
  watch(worker: Worker<TileJobData>): void {
    const startedAt = new Map<string, number>();
    const ended = (job: Job<TileJobData> | undefined, result: 'done' | 'failed' | 'retried') => {
      const kind = jobKind(job?.data);
      this.jobs.inc({ result, kind });
      const id = job?.id;
      const t0 = id === undefined ? undefined : startedAt.get(id);
      if (t0 === undefined) return;
      startedAt.delete(id!);
      this.jobActive.dec();
      this.jobDuration.observe({ result, kind }, (performance.now() - t0) / 1000);
    };
    worker.on('active', (job) => {
      if (job.id === undefined) return;
      startedAt.set(job.id, performance.now());
      this.jobActive.inc();
    });
    worker.on('completed', (job) => ended(job, 'done'));
    // BullMQ sets finishedOn only when the job will not be tried again.
    worker.on('failed', (job) => ended(job, job?.finishedOn ? 'failed' : 'retried'));
  }

  /**
   * Starts the listener when WORKER_METRICS_PORT is set (null otherwise). /healthz is 200 while the
   * worker's Redis connection is ready: a worker cut off from Redis cannot take jobs, whatever else works.
   */
  async serve(config: Config, worker: Worker, logger: Logger): Promise<MetricsServer | null> {
    if (config.metrics.workerPort === undefined) return null;
    const client = await worker.backend.client;
    return startMetricsServer({
      registry: this.registry,
      port: config.metrics.workerPort,
      host: config.metrics.host,
      logger,
      healthy: () => worker.isRunning() && client.status === 'ready',
    });
  }
}
