/**
 * Production wiring: real MongoDB, Redis, S3 clients, an HTTP server, and a
 * graceful close (stop accepting, end event streams, let requests in flight
 * finish up to SHUTDOWN_TIMEOUT_MS, then cut what is left).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../shared/config.js';
import { createLogger, type Logger } from '../../shared/logger.js';
import { createTileQueue } from '../../shared/queue.js';
import { StatusEvents } from '../../shared/status-events.js';
import { StatusStore } from '../../shared/status-store.js';
import { S3Store } from '../../shared/storage/s3-store.js';
import { createApp } from './app.js';
import { migrateLegacyImages } from '../../shared/accounts/migrate-images.js';
import { OpenStreams } from './open-streams.js';
import { ApiMetrics, serveApiMetrics } from './metrics.js';

export interface ApiServer {
  url: string;
  /** The metrics listener's base URL when METRICS_PORT is set. */
  metricsUrl?: string;
  close(): Promise<void>;
}

/** Sockets silent this long are dropped; event streams stay alive by their heartbeat. */
const IDLE_SOCKET_MS = 120_000;

export async function startApiServer(config: Config, opts: { logger?: Logger } = {}): Promise<ApiServer> {
  const logger = opts.logger ?? createLogger('hugemap-api', config.logLevel);
  const redisTrouble = (err: Error) => logger.warn({ err: err.message }, 'redis connection problem');
  const events = new StatusEvents(config.redisUrl, config.queuePrefix, redisTrouble);
  const store = await StatusStore.connect(config.mongoUrl, { onChange: (doc) => events.publish(doc) });
  const migrated = await migrateLegacyImages(store.images);
  if (migrated > 0) logger.info({ migrated }, 'images from before accounts now belong to the bootstrap admin, public');
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  queue.on('error', redisTrouble);
  const s3 = new S3Store(config.s3);
  try {
    await s3.ensureBucket();
  } catch (err) {
    // Not fatal: /readyz reports S3 until it answers.
    logger.warn({ err }, 'could not ensure the S3 bucket exists');
  }
  const streams = new OpenStreams();
  const metrics = new ApiMetrics(queue, logger);
  const app = createApp({ config, store, events, queue, s3, logger, streams, metrics });

  const server = createServer(app);
  // Multi-gigabyte uploads outlast Node's 5-minute request timeout: a body is cut instead when it
  // arrives slower than MIN_UPLOAD_BYTES_PER_SECOND (upload-rate.ts); idle sockets are cut too.
  server.requestTimeout = 0;
  server.headersTimeout = config.headersTimeoutMs;
  server.maxConnections = config.maxConnections;
  server.setTimeout(IDLE_SOCKET_MS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const url = `http://${displayHost(server.address() as AddressInfo)}`;
  logger.info({ url }, 'api listening');
  const metricsServer = await serveApiMetrics(metrics, config, logger);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      streams.closeAll();
      // server.close() drops only the connections idle at that moment; ones whose
      // request finishes later would linger for keepAliveTimeout, so sweep again.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, config.shutdownTimeoutMs);
      });
      await Promise.race([drained, timedOut]);
      clearInterval(sweep);
      clearTimeout(timer);
      server.closeAllConnections();
      await drained;
      await Promise.allSettled([queue.close(), events.close(), store.close(), metricsServer?.close()]);
      logger.info('api closed');
    })());
  return { url, ...(metricsServer ? { metricsUrl: metricsServer.url } : {}), close };
}

function displayHost({ address, port, family }: AddressInfo): string {
  if (address === '0.0.0.0') return `127.0.0.1:${port}`;
  if (address === '::') return `[::1]:${port}`;
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}
