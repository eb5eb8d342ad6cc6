/**
 * The API's Prometheus metrics, in a Registry of its own (tests start several
 * APIs in one process), served by shared/metrics-server.ts on METRICS_PORT,
 * never on the public port. Names follow `hugemap_<what>_<unit>`; labels are
 * bounded: a route is its pattern (`/api/v1/images/:id`), never the raw path.
 */
import type { Request, RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../../shared/process-metrics.js';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { startMetricsServer, type MetricsServer } from '../../shared/metrics-server.js';

/** The BullMQ states the queue gauge reports, one series each. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** A scrape waits this long for Redis; past it the gauge is left empty rather than the scrape failing. */
const QUEUE_COUNT_TIMEOUT_MS = 2_000;

const UPLOAD_ROUTE = '/api/v1/images';
/** Requests without a route pattern: a bounded label each, never the path (which may hold ids). */
const UNMATCHED = 'unmatched';
/** Mounted handlers that have no express route (static files, tus, bull-board's own assets): their mount point. */
const MOUNTS = ['/api/v1/uploads', '/static', '/vendor', '/admin/queues'];

export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'hugemap_http_request_duration_seconds',
    help: 'API requests by method, route pattern and status, from first byte in to last byte out',
    labelNames: ['method', 'route', 'status'] as const,
    // Tiles and status reads are milliseconds; uploads of gigapixel originals take minutes.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly uploads = new Counter({
    name: 'hugemap_uploads_total',
    help: 'Image submissions (multipart, URL, tus) by result: accepted, duplicate, refused (4xx), error (5xx)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly uploadBytes = new Counter({
    name: 'hugemap_upload_bytes_total',
    help: 'Bytes of originals received and stored',
    registers: [this.registry],
  });
  readonly renderDuration = new Histogram({
    name: 'hugemap_render_duration_seconds',
    help: 'Renders of scaled images (/i) and composed IIIF answers (/iiif), cache misses only',
    labelNames: ['kind'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly renderCacheHits = new Counter({
    name: 'hugemap_render_cache_hits_total',
    help: 'Scaled images served from the disk cache without rendering',
    registers: [this.registry],
  });

  constructor(queue?: Queue, logger?: Logger) {
    registerProcessMetrics(this.registry);
    if (queue) queueGauge(this.registry, queue, logger);
  }

  /** One result of POST /api/v1/images or a finished tus upload, from its HTTP status. */
  countUpload(status: number, duplicate = false): void {
    const result = status >= 500 ? 'error' : status >= 400 ? 'refused' : duplicate ? 'duplicate' : 'accepted';
    this.uploads.inc({ result });
  }

  /** Express middleware, first in the app: observes every request when its response is finished. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.httpDuration.startTimer();
      const route = trackRoute(req);
      res.once('finish', () => {
        const label = route.label(res.statusCode);
        end({ method: req.method, route: label, status: String(res.statusCode) });
        // POST /api/v1/images answers 202 for a new image, 200 for the same bytes again.
        if (req.method === 'POST' && label === UPLOAD_ROUTE) this.countUpload(res.statusCode, res.statusCode === 200);
      });
      next();
    };
  }
}

/**
 * Express sets `req.route` when a route matches, while `req.baseUrl` still holds the router's mount
 * point; by the time the response is finished an error may have unwound the routers and reset
 * baseUrl. So capture the pattern at the moment the route is set. A mount point with parameters
 * (`/api/v1/images/:id/annotations`) arrives with the values filled in; put the names back.
 */
function trackRoute(req: Request): { label(status: number): string } {
  let pattern: string | undefined;
  let route: unknown;
  Object.defineProperty(req, 'route', {
    configurable: true,
    enumerable: true,
    get: () => route,
    set(value: { path?: unknown } | undefined) {
      route = value;
      if (value && typeof value.path === 'string') pattern = withParamNames(req.baseUrl, req.params) + value.path;
    },
  });
  return {
    label(status) {
      if (pattern !== undefined) return pattern.length > 1 ? pattern.replace(/\/$/, '') : pattern;
      if (status === 404) return UNMATCHED;
      const path = req.originalUrl.split('?')[0] ?? '';
      return MOUNTS.find((m) => path === m || path.startsWith(`${m}/`)) ?? UNMATCHED;
    },
  };
}

function withParamNames(baseUrl: string, params: Record<string, unknown> | undefined): string {
  if (!baseUrl || !params) return baseUrl;
  const names = new Map<string, string>();
  for (const [name, value] of Object.entries(params)) if (typeof value === 'string' && value !== '') names.set(value, name);
  return baseUrl
    .split('/')
    .map((segment) => {
      const name = names.get(safeDecode(segment));
      return name === undefined ? segment : `:${name}`;
    })
    .join('/');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** hugemap_queue_jobs{state}: read from BullMQ when scraped (one round trip of LLEN/ZCARD), not kept up to date. */
function queueGauge(registry: Registry, queue: Queue, logger?: Logger): Gauge<'state'> {
  return new Gauge({
    name: 'hugemap_queue_jobs',
    help: 'Jobs in the tiling queue by BullMQ state, read at scrape time',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      try {
        const counts = await Promise.race([
          queue.getJobCounts(...QUEUE_STATES),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer from Redis within ${QUEUE_COUNT_TIMEOUT_MS} ms`)), QUEUE_COUNT_TIMEOUT_MS);
          }),
        ]);
        for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
      } catch (err) {
        // No numbers beat stale ones: the series disappear and the alert on absent data fires.
        this.reset();
        logger?.warn({ err: (err as Error).message }, 'could not read queue counts for metrics');
      } finally {
        clearTimeout(timer);
      }
    },
  });
}

/** Runs `render` timed under hugemap_render_duration_seconds{kind} (when there are metrics). */
export async function timeRender<T>(metrics: ApiMetrics | undefined, kind: 'scaled' | 'iiif', render: () => Promise<T>): Promise<T> {
  if (!metrics) return render();
  const end = metrics.renderDuration.startTimer({ kind });
  try {
    return await render();
  } finally {
    end();
  }
}

/** Starts the API's metrics listener when METRICS_PORT is set; null otherwise. */
export async function serveApiMetrics(metrics: ApiMetrics, config: Config, logger: Logger): Promise<MetricsServer | null> {
  if (config.metrics.apiPort === undefined) return null;
  return startMetricsServer({ registry: metrics.registry, port: config.metrics.apiPort, host: config.metrics.host, logger });
}
