/** Wires a worker process: MongoDB status (announced on Redis), S3, and the BullMQ worker. */
import sharp from 'sharp';
import type { Config } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { StatusEvents } from '../shared/status-events.js';
import { StatusStore } from '../shared/status-store.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { createFlowProducer, createTileQueue } from '../shared/queue.js';
import { limitHeapGrowth, missingWorkerSettings } from './process-settings.js';
import { WorkerMetrics } from './metrics.js';
import { createTileWorker } from './tile-worker.js';
import { startReconciler } from './reconciler.js';

export interface RunningWorker {
  /** Stops taking jobs and waits for the running ones up to the deadline; after it, leaves them to stall recovery (exit the process then). */
  close(): Promise<void>;
  /** The metrics listener's base URL when WORKER_METRICS_PORT is set. */
  metricsUrl?: string;
}

export async function startWorker(config: Config, logger: Logger = createLogger('worker', config.logLevel)): Promise<RunningWorker> {
  limitHeapGrowth();
  const events = new StatusEvents(config.redisUrl, config.queuePrefix, (err) =>
    logger.warn({ err: err.message }, 'redis connection problem (status events)'),
  );
  const store = await StatusStore.connect(config.mongoUrl, { onChange: (doc) => events.publish(doc), timeoutMs: config.mongoTimeoutMs });
  // Every job in this process keeps WORKER_TILE_PUTS tile PUTs going: a socket for each.
  const metrics = new WorkerMetrics();
  const s3 = new S3Store(config.s3, { maxSockets: config.workerTilePuts * config.workerConcurrency, onRequestError: metrics.s3Error });
  await s3.ensureBucket();
  // Process-wide, so set once before the first job: every preview and cut gets the same threads.
  sharp.concurrency(config.workerVipsThreads);
  // Where this worker queues the parts of the large images it splits (docs/split-jobs.md).
  const splitQueue = { flows: createFlowProducer(config.redisUrl, config.queuePrefix), queue: createTileQueue(config.redisUrl, config.queuePrefix) };
  const worker = createTileWorker({ config, store, s3, logger, metrics, splitQueue });
  metrics.watch(worker);
  await worker.waitUntilReady();
  // The reconciler re-queues images whose job went missing: it needs a producer of its own.
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  queue.on('error', (err) => logger.warn({ err: err.message }, 'redis connection problem (reconciler queue)'));
  const reconciler = startReconciler({ config, store, queue, s3, logger });
  const metricsServer = await metrics.serve(config, worker, logger);
  logger.info({ concurrency: config.workerConcurrency, vipsThreads: config.workerVipsThreads, queuePrefix: config.queuePrefix }, 'worker ready');
  const missing = missingWorkerSettings();
  if (missing.length > 0) logger.info({ missing }, 'started without some worker process settings: it works, with more memory at gigapixel sizes (docs/memory.md)');

  return {
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    async close() {
      await reconciler.stop();
      const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), config.shutdownTimeoutMs).unref());
      const outcome = await Promise.race([worker.close().then(() => 'closed' as const), deadline]);
      if (outcome === 'timeout') {
        // BullMQ's close(true) would only return the close already waiting on the job, so
        // leave instead: the running job keeps its checkpoint, its lock expires, and
        // another worker resumes it. The caller exits the process.
        logger.warn({ deadlineMs: config.shutdownTimeoutMs }, 'shutdown deadline passed; leaving the running job to be recovered');
        return;
      }
      await Promise.allSettled([store.close(), events.close(), queue.close(), metricsServer?.close(), splitQueue.flows.close(), splitQueue.queue.close()]);
      s3.close();
      logger.info('worker stopped');
    },
  };
}
