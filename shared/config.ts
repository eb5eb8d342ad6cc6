/**
 * The one place that reads the environment. `loadConfig()` validates every
 * variable once at start and hands typed values down; a bad value stops the
 * process with a message naming the variable, before anything connects.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { JpegEncoder } from './tiling/encoders.js';
import { DEFAULT_MAX_COLUMN_WIDTH } from './tiling/band-plan.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const hostPortList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[a-z0-9.\-\[\]:]+:\d{1,5}$/, 'each entry must be host:port')));

const schema = z.object({
  /**
   * required: writes need a signed-in user or an API key, private images are hidden (the default).
   * open: every request acts as a local admin; only for `hugemap dev` on loopback.
   */
  AUTH_MODE: z.enum(['required', 'open']).default('required'),
  /**
   * The bootstrap credential: `Authorization: Bearer <ADMIN_TOKEN>` acts as an admin, so a fresh
   * install can create its first user (POST /api/v1/users). Unset: no such credential.
   */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Removed: the queue dashboard takes an admin user's session or an admin-scoped key. */
  ADMIN_USER: z.undefined({ error: 'no longer used: create an admin user (hugemap users add NAME --role admin) and sign in at /login' }).optional(),
  ADMIN_PASSWORD: z.undefined({ error: 'no longer used: create an admin user (hugemap users add NAME --role admin) and sign in at /login' }).optional(),
  ADMIN_READ_ONLY: bool.default(true),
  /** Visibility of an upload that does not say: public in AUTH_MODE=open, unlisted otherwise. */
  DEFAULT_VISIBILITY: z.enum(['public', 'unlisted', 'private']).optional(),
  /**
   * Behind a reverse proxy: which X-Forwarded-* to believe (express's "trust proxy": true, a hop
   * count, or addresses/CIDRs such as `loopback`). Decides req.secure (Secure cookies) and client addresses.
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v): boolean | number | string => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v)),
  /** How long a browser sign-in lasts. */
  SESSION_TTL_HOURS: z.coerce.number().positive().max(24 * 365).default(24 * 7),
  /** Per-user storage quotas (admins are exempt; per-user overrides with `hugemap users add --quota-*`); 0 = no limit. */
  QUOTA_BYTES: z.coerce.number().int().min(0).default(50 * 1024 ** 3),
  QUOTA_IMAGES: z.coerce.number().int().min(0).default(1000),
  /** Total pixels of one user's images: a tiny file can declare a huge image (and its tiles cost the storage). */
  QUOTA_PIXELS: z.coerce.number().int().min(0).default(20_000_000_000),
  /** Failed sign-ins allowed per user name, and per client address, in RATE_LIMIT_SIGNIN_WINDOW_S. */
  RATE_LIMIT_SIGNIN_PER_NAME: z.coerce.number().int().min(1).default(8),
  RATE_LIMIT_SIGNIN_PER_ADDRESS: z.coerce.number().int().min(1).default(30),
  RATE_LIMIT_SIGNIN_WINDOW_S: z.coerce.number().int().min(1).default(15 * 60),
  /** Writes (POST, PATCH, DELETE) per principal per minute. */
  RATE_LIMIT_WRITES_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  /** Renders not in the cache (scaled sizes, IIIF) per client per minute. */
  RATE_LIMIT_RENDERS_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  /** Open connections the API accepts at once; more are refused by the server. */
  MAX_CONNECTIONS: z.coerce.number().int().min(1).default(1024),
  /** The request line and headers must arrive within this. */
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(1000).default(30_000),
  /** An upload slower than this (averaged over 30 s) is cut: a never-ending body cannot hold a connection. */
  MIN_UPLOAD_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(1024),
  MIN_UPLOAD_RATE_WINDOW_S: z.coerce.number().int().min(1).max(3600).default(30),
  /** Part size of resumable browser uploads (tus) in S3; S3 wants at least 5 MiB. */
  TUS_PART_BYTES: z.coerce.number().int().min(5 * 1024 ** 2).max(5 * 1024 ** 3).default(8 * 1024 ** 2),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  MONGO_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb://').default('mongodb://127.0.0.1:27017/hugemap'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).default('hugemap'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
  PUBLIC_BASE_URL: z.string().url().optional(),
  /**
   * Where people reach the web app and API (e.g. https://maps.example.org), for absolute links others
   * keep (og:url, IIIF ids) and the sign-in CSRF check. Unset: PUBLIC_BASE_URL, else a trusted
   * proxy's forwarded host, else this server's own address. Set it when tiles come from another host.
   */
  APP_BASE_URL: z.string().url().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** Prometheus /metrics of the API on its own port, never the public one; unset: no metrics listener. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Prometheus /metrics and /healthz of a worker process; unset: no listener. `hugemap dev` gives worker i this + i. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Address the metrics listeners bind; unset: the same as HOST. */
  METRICS_HOST: z.string().min(1).optional(),
  /** Larger images are refused from their header; 10 GP, since memory stays bounded at any size (the service path splits such images: docs/split-jobs.md). */
  MAX_PIXELS: z.coerce.number().int().positive().default(10_000_000_000),
  /** Progressive JPEGs the baseline rewrite cannot handle (12-bit, arithmetic-coded...) are decoded whole: refuse them above this (docs/memory.md). */
  MAX_BUFFERED_PIXELS: z.coerce.number().int().positive().default(50_000_000),
  MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(4 * 1024 ** 3),
  /** direct: dzsave's direct mode + lossless Huffman pass (fastest); sharp: sharp's tile() with optimize_coding. Same pixels, about the same bytes (docs/performance.md). */
  TILE_JPEG_ENCODER: z.enum(['direct', 'sharp']).default('direct'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** libvips threads for a job's cut (sharp.concurrency). 1: a job already keeps about two cores busy, and a second thread bought memory, not time (docs/memory.md). */
  WORKER_VIPS_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  /**
   * Tile PUTs a job keeps going at once (shared/storage/tile-row-uploader.ts), each on a socket of
   * its own. 64, not 16: against a distant S3 more requests in flight hide its latency, and on 2
   * cores shared with MinIO they cost a little less CPU per tile (docs/performance.md).
   */
  WORKER_TILE_PUTS: z.coerce.number().int().min(1).max(256).default(64),
  /** Store a preview of JPEG originals, beside the cut up to 300 MP (workers/stages/preview.ts): the image shows within seconds, for 0.4-0.5 CPU-s at 236 MP. */
  WORKER_PREVIEW: bool.default(true),
  /**
   * Images above this many pixels are cut as horizontal bands by several workers at once, then
   * assembled (docs/split-jobs.md); 0: never split. 1 GP, the largest image accepted before 10 GP
   * inputs were: a split costs about 1.8x the workers' CPU of a whole cut (decoding the rows above
   * each band, the band's file, its level image), measured on 2 shared cores (docs/split-jobs.md),
   * so only images that would otherwise take one worker minutes are split.
   */
  WORKER_SPLIT_PIXELS: z.coerce.number().int().min(0).default(1_000_000_000),
  /**
   * A band read from a TIFF (the original, or a band TIFF cut by the direct encoder) that is wider
   * than this is cut as columns of at most this width, one after another (band-plan.ts,
   * bandColumns); 0: bands whole. 10240: a band of the 40960 px wide 10 GP TIFF peaked at
   * 249-251 MB alone this way, 291-292 MB whole, for 10-15% more CPU (pages handed back between
   * passes fault in again; docs/split-jobs.md, "Memory").
   */
  WORKER_SPLIT_COLUMN_WIDTH: z.coerce.number().int().min(0).default(DEFAULT_MAX_COLUMN_WIDTH),
  /** How long a job's lock lives without renewal: a killed worker's job is recovered after about this long. */
  WORKER_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  /** How long a database operation waits for an unreachable server before the API answers 503 (and a job backs off). */
  MONGO_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** How long an upload waits for Redis (the queue) before it is refused with 503, leaving nothing behind. */
  QUEUE_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
  /** Attempts of one tiling job; transient failures (database, Redis, S3 5xx, network, full disk) use them all. */
  JOB_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(12),
  /** First backoff after a transient failure, doubled each attempt up to RETRY_MAX_DELAY_MS (12 attempts ride out about 6 h). */
  RETRY_DELAY_MS: z.coerce.number().int().min(10).default(60_000),
  RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).default(3_600_000),
  /** How often a worker (the one holding the Redis lock) settles images whose job is missing, failed or finished. */
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(60_000),
  /** An image is only settled once its status is older than this: a job is queued right after its document is written. */
  RECONCILE_GRACE_MS: z.coerce.number().int().min(0).default(120_000),
  /** `hugemap s3 setup` / S3_SETUP: abandoned uploads/ objects expire after this many days. */
  UPLOADS_EXPIRE_DAYS: z.coerce.number().int().min(1).default(2),
  /** Run `hugemap s3 setup` (bucket, policy, lifecycle, CORS) when the API starts. */
  S3_SETUP: bool.default(false),
  FETCH_ALLOW_HOSTS: hostPortList.default([]),
  FETCH_TIMEOUT_MS: z.coerce.number().int().positive().default(10 * 60_000),
  WORK_DIR: z.string().min(1).default('/tmp/hugemap-work'),
  QUEUE_PREFIX: z.string().min(1).default('hugemap'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** HMAC key for scaled-image sizes that are not presets; unset: any size up to the maximum is allowed. */
  SIGNING_KEY: z.string().min(16, 'use at least 16 characters').optional(),
  SCALE_CACHE_DIR: z.string().min(1).default('/tmp/hugemap-scaled'),
  SCALE_CACHE_MAX_BYTES: z.coerce.number().int().positive().default(1024 ** 3),
  SCALE_MAX_DIMENSION: z.coerce.number().int().min(16).max(16384).default(4096),
  /** `name=spec,...`, e.g. `thumb=150x150,square=150x150!`; replaces the defaults. */
  SCALE_PRESETS: z.string().optional(),
  /** Appended to generated alt texts, e.g. " (photo)". */
  ALT_SUFFIX: z.string().max(200).default(''),
  /** Scaled-size renders (/i/) waiting for a slot beyond the 2 running; more are answered 503 HUGEMAP_ERR_BUSY. */
  SCALE_RENDER_QUEUE: z.coerce.number().int().min(0).max(10_000).default(64),
  /** IIIF renders running at once, apart from /i/'s (so IIIF clients cannot starve the presets). */
  IIIF_RENDERS: z.coerce.number().int().min(1).max(64).default(1),
  /** IIIF renders waiting for a slot; more are answered 503 HUGEMAP_ERR_BUSY with Retry-After. */
  IIIF_RENDER_QUEUE: z.coerce.number().int().min(0).max(10_000).default(8),
  /** Largest IIIF output in pixels (info.json maxArea); maxWidth/maxHeight are SCALE_MAX_DIMENSION. */
  IIIF_MAX_AREA: z.coerce.number().int().min(256).max(268_435_456).default(16_777_216),
});

export type Config = Readonly<{
  /** AUTH_MODE: who must prove who they are (services/api/access). */
  authMode: 'required' | 'open';
  /** ADMIN_TOKEN (the bootstrap admin) and ADMIN_READ_ONLY (the queue dashboard). */
  admin: Readonly<{ token: string | undefined; readOnly: boolean }>;
  defaultVisibility: 'public' | 'unlisted' | 'private';
  trustProxy: boolean | number | string;
  sessionTtlMs: number;
  quota: Readonly<{ bytes: number; images: number; pixels: number }>;
  rateLimits: Readonly<{
    signinPerName: number;
    signinPerAddress: number;
    signinWindowS: number;
    writesPerMinute: number;
    rendersPerMinute: number;
  }>;
  maxConnections: number;
  headersTimeoutMs: number;
  /** A request body must bring minUploadBytesPerSecond x this many bytes in every such window (0: no minimum). */
  minUploadBytesPerSecond: number;
  minUploadRateWindowS: number;
  tusPartBytes: number;
  redisUrl: string;
  mongoUrl: string;
  s3: Readonly<{
    endpoint: string | undefined;
    region: string;
    bucket: string;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    forcePathStyle: boolean;
  }>;
  publicBaseUrl: string | undefined;
  /** APP_BASE_URL: the app's own public address (services/api/public-url.ts). */
  appBaseUrl: string | undefined;
  port: number;
  host: string;
  /** METRICS_PORT / WORKER_METRICS_PORT / METRICS_HOST: the Prometheus listeners (undefined port: none). */
  metrics: Readonly<{ apiPort: number | undefined; workerPort: number | undefined; host: string }>;
  maxPixels: number;
  maxBufferedPixels: number;
  maxUploadBytes: number;
  tileJpegEncoder: JpegEncoder;
  workerConcurrency: number;
  /** WORKER_VIPS_THREADS: libvips threads for a job's cut. */
  workerVipsThreads: number;
  /** WORKER_TILE_PUTS: tile PUTs a job keeps going at once. */
  workerTilePuts: number;
  /** WORKER_PREVIEW: store a preview of JPEG originals while (or before) they are cut. */
  workerPreview: boolean;
  workerLockMs: number;
  /** MONGO_TIMEOUT_MS */
  mongoTimeoutMs: number;
  /** QUEUE_TIMEOUT_MS */
  queueTimeoutMs: number;
  /** JOB_ATTEMPTS, RETRY_DELAY_MS, RETRY_MAX_DELAY_MS: how tiling jobs are retried (workers/retry-policy.ts). */
  retry: Readonly<{ attempts: number; delayMs: number; maxDelayMs: number }>;
  /** RECONCILE_INTERVAL_MS, RECONCILE_GRACE_MS (workers/reconciler.ts). */
  reconcile: Readonly<{ intervalMs: number; graceMs: number }>;
  /** UPLOADS_EXPIRE_DAYS */
  uploadsExpireDays: number;
  /** S3_SETUP */
  s3Setup: boolean;
  workerSplitPixels: number;
  workerSplitColumnWidth: number;
  fetchAllowHosts: readonly string[];
  fetchTimeoutMs: number;
  workDir: string;
  queuePrefix: string;
  shutdownTimeoutMs: number;
  logLevel: string;
  signingKey: string | undefined;
  scale: Readonly<{
    cacheDir: string;
    cacheMaxBytes: number;
    maxDimension: number;
    /** Raw `name=spec` list; parsed (and checked) by services/scaling/presets.ts. */
    presets: string | undefined;
    altSuffix: string;
    /** SCALE_RENDER_QUEUE: /i/ renders that may wait for a slot. */
    renderQueue: number;
    /** IIIF_RENDERS, IIIF_RENDER_QUEUE, IIIF_MAX_AREA: IIIF's own render slots, queue and output cap. */
    iiifRenders: number;
    iiifRenderQueue: number;
    iiifMaxArea: number;
  }>;
}>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as docker-compose and shells often pass them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  const e = parsed.data;
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError('invalid configuration: set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
  }
  return Object.freeze({
    authMode: e.AUTH_MODE,
    admin: Object.freeze({ token: e.ADMIN_TOKEN, readOnly: e.ADMIN_READ_ONLY }),
    defaultVisibility: e.DEFAULT_VISIBILITY ?? (e.AUTH_MODE === 'open' ? 'public' : 'unlisted'),
    trustProxy: e.TRUST_PROXY,
    sessionTtlMs: Math.round(e.SESSION_TTL_HOURS * 3600_000),
    quota: Object.freeze({ bytes: e.QUOTA_BYTES, images: e.QUOTA_IMAGES, pixels: e.QUOTA_PIXELS }),
    rateLimits: Object.freeze({
      signinPerName: e.RATE_LIMIT_SIGNIN_PER_NAME,
      signinPerAddress: e.RATE_LIMIT_SIGNIN_PER_ADDRESS,
      signinWindowS: e.RATE_LIMIT_SIGNIN_WINDOW_S,
      writesPerMinute: e.RATE_LIMIT_WRITES_PER_MINUTE,
      rendersPerMinute: e.RATE_LIMIT_RENDERS_PER_MINUTE,
    }),
    maxConnections: e.MAX_CONNECTIONS,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    minUploadBytesPerSecond: e.MIN_UPLOAD_BYTES_PER_SECOND,
    minUploadRateWindowS: e.MIN_UPLOAD_RATE_WINDOW_S,
    tusPartBytes: e.TUS_PART_BYTES,
    redisUrl: e.REDIS_URL,
    mongoUrl: e.MONGO_URL,
    s3: Object.freeze({
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      bucket: e.S3_BUCKET,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      forcePathStyle: e.S3_FORCE_PATH_STYLE,
    }),
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    appBaseUrl: e.APP_BASE_URL?.replace(/\/+$/, ''),
    port: e.PORT,
    host: e.HOST,
    metrics: Object.freeze({ apiPort: e.METRICS_PORT, workerPort: e.WORKER_METRICS_PORT, host: e.METRICS_HOST ?? e.HOST }),
    maxPixels: e.MAX_PIXELS,
    maxBufferedPixels: e.MAX_BUFFERED_PIXELS,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    tileJpegEncoder: e.TILE_JPEG_ENCODER,
    workerConcurrency: e.WORKER_CONCURRENCY,
    workerVipsThreads: e.WORKER_VIPS_THREADS,
    workerTilePuts: e.WORKER_TILE_PUTS,
    workerPreview: e.WORKER_PREVIEW,
    workerLockMs: e.WORKER_LOCK_MS,
    mongoTimeoutMs: e.MONGO_TIMEOUT_MS,
    queueTimeoutMs: e.QUEUE_TIMEOUT_MS,
    retry: Object.freeze({ attempts: e.JOB_ATTEMPTS, delayMs: e.RETRY_DELAY_MS, maxDelayMs: Math.max(e.RETRY_DELAY_MS, e.RETRY_MAX_DELAY_MS) }),
    reconcile: Object.freeze({ intervalMs: e.RECONCILE_INTERVAL_MS, graceMs: e.RECONCILE_GRACE_MS }),
    uploadsExpireDays: e.UPLOADS_EXPIRE_DAYS,
    s3Setup: e.S3_SETUP,
    workerSplitPixels: e.WORKER_SPLIT_PIXELS,
    workerSplitColumnWidth: e.WORKER_SPLIT_COLUMN_WIDTH,
    fetchAllowHosts: Object.freeze(e.FETCH_ALLOW_HOSTS),
    fetchTimeoutMs: e.FETCH_TIMEOUT_MS,
    workDir: e.WORK_DIR,
    queuePrefix: e.QUEUE_PREFIX,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    signingKey: e.SIGNING_KEY,
    scale: Object.freeze({
      cacheDir: e.SCALE_CACHE_DIR,
      cacheMaxBytes: e.SCALE_CACHE_MAX_BYTES,
      maxDimension: e.SCALE_MAX_DIMENSION,
      presets: e.SCALE_PRESETS,
      altSuffix: e.ALT_SUFFIX,
      renderQueue: e.SCALE_RENDER_QUEUE,
      iiifRenders: e.IIIF_RENDERS,
      iiifRenderQueue: e.IIIF_RENDER_QUEUE,
      iiifMaxArea: e.IIIF_MAX_AREA,
    }),
  });
}

/** The variables and their defaults, for the check of docs/configuration.md (test/docs.test.ts). */
export const configSchema = schema;
