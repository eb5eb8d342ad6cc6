/**
 * The one place that reads the environment. `loadConfig()` validates every
 * variable once at start and hands typed values down; a bad value stops the
 * process with a message naming the variable, before anything connects.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { JpegEncoder } from './tiling/encoders.js';

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
  /** Ops dashboard (/admin/queues): a bearer/cookie token, or basic auth; with neither it is not served at all. */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  ADMIN_USER: z.string().min(1).optional(),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  ADMIN_READ_ONLY: bool.default(true),
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
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** Larger images are refused from their header; 10 GP, since memory stays bounded at any size (the service path splits such images: docs/split-jobs.md). */
  MAX_PIXELS: z.coerce.number().int().positive().default(10_000_000_000),
  /** Progressive JPEGs the baseline rewrite cannot handle (12-bit, arithmetic-coded...) are decoded whole: refuse them above this (docs/memory.md). */
  MAX_BUFFERED_PIXELS: z.coerce.number().int().positive().default(50_000_000),
  MAX_UPLOAD_BYTES: z.coerce.number().int().positive().default(4 * 1024 ** 3),
  /** direct: dzsave's direct mode + lossless Huffman pass (fastest); sharp: sharp's tile() with optimize_coding. Same pixels, about the same bytes (README, Performance). */
  TILE_JPEG_ENCODER: z.enum(['direct', 'sharp']).default('direct'),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /**
   * libvips threads for a job's cut (sharp.concurrency, process-wide). 1, not one a core: a job
   * already keeps about two cores busy (the cut, the Huffman pass's thread, uploads), and on 2 cores a
   * second libvips thread gave the same time for 20-30 MB more at 944 MP (README, Configuration).
   */
  WORKER_VIPS_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  /**
   * Tile PUTs a job keeps going at once (shared/storage/tile-row-uploader.ts), each on a socket of
   * its own. 64, not 16: against a distant S3 more requests in flight hide its latency, and on 2
   * cores shared with MinIO they cost a little less CPU per tile (docs/performance.md).
   */
  WORKER_TILE_PUTS: z.coerce.number().int().min(1).max(256).default(64),
  /** Store a preview of JPEG originals, beside the cut up to 300 MP (workers/stages/preview.ts): the image shows within seconds, for 0.35 CPU-s at 236 MP. */
  WORKER_PREVIEW: bool.default(true),
  /**
   * Images above this many pixels are cut as horizontal bands by several workers at once, then
   * assembled (docs/split-jobs.md); 0: never split. 1 GP, the largest image accepted before 10 GP
   * inputs were: a split costs about 1.8x the workers' CPU of a whole cut (decoding the rows above
   * each band, the band's file, its level image), measured on 2 shared cores (docs/split-jobs.md),
   * so only images that would otherwise take one worker minutes are split.
   */
  WORKER_SPLIT_PIXELS: z.coerce.number().int().min(0).default(1_000_000_000),
  /** How long a job's lock lives without renewal: a killed worker's job is recovered after about this long. */
  WORKER_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
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
});

export type Config = Readonly<{
  /** AUTH_MODE: who must prove who they are (services/api/access). */
  authMode: 'required' | 'open';
  /** Ops dashboard credentials (see ADMIN_* above). */
  admin: Readonly<{ token: string | undefined; user: string | undefined; password: string | undefined; readOnly: boolean }>;
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
  port: number;
  host: string;
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
  workerSplitPixels: number;
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
  if ((e.ADMIN_USER === undefined) !== (e.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('invalid configuration: set both ADMIN_USER and ADMIN_PASSWORD, or neither');
  }
  return Object.freeze({
    authMode: e.AUTH_MODE,
    admin: Object.freeze({ token: e.ADMIN_TOKEN, user: e.ADMIN_USER, password: e.ADMIN_PASSWORD, readOnly: e.ADMIN_READ_ONLY }),
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
    port: e.PORT,
    host: e.HOST,
    maxPixels: e.MAX_PIXELS,
    maxBufferedPixels: e.MAX_BUFFERED_PIXELS,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    tileJpegEncoder: e.TILE_JPEG_ENCODER,
    workerConcurrency: e.WORKER_CONCURRENCY,
    workerVipsThreads: e.WORKER_VIPS_THREADS,
    workerTilePuts: e.WORKER_TILE_PUTS,
    workerPreview: e.WORKER_PREVIEW,
    workerLockMs: e.WORKER_LOCK_MS,
    workerSplitPixels: e.WORKER_SPLIT_PIXELS,
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
    }),
  });
}
