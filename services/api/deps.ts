/** What the API needs from the outside world; tests pass real clients on loopback ports. */
import type { Queue } from 'bullmq';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import type { TileJobData } from '../../shared/queue.js';
import type { StatusEvents } from '../../shared/status-events.js';
import type { StatusStore } from '../../shared/status-store.js';
import type { S3Store } from '../../shared/storage/s3-store.js';
import type { ApiMetrics } from './metrics.js';
import type { OpenStreams } from './open-streams.js';

export interface ApiDeps {
  config: Config;
  store: StatusStore;
  events: StatusEvents;
  queue: Queue<TileJobData>;
  s3: S3Store;
  logger: Logger;
  /** Long-lived event streams, ended on shutdown; createApp makes one if absent. */
  streams?: OpenStreams;
  /** Prometheus metrics (services/api/metrics.ts); absent: nothing is measured. */
  metrics?: ApiMetrics;
}
