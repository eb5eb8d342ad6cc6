/**
 * `npm run bench -- --split [--image FILE] [--split-pixels N] [--workers 1,2] [--runs N]`: one large
 * image through the service path (upload to done, `hugemap api` and `hugemap worker` processes on
 * local Redis, FerretDB and MinIO), cut whole on one worker and split (docs/split-jobs.md) on 1..N
 * workers, next to `vips dzsave` of the same file; every split's tiles are checked against the whole
 * cut's, byte for byte (a digest of all of them). Each contender gets fresh worker processes,
 * each under /usr/bin/time -v, so the peak RSS per worker is that contender's. Prints a Markdown
 * table and writes it to bench/results/split.md. Alternating runs; median and range.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { startLocalServers } from '../services/dev/local-servers.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { planBands } from '../shared/tiling/band-plan.js';
import { assertBuiltCli, REPO_DIR } from './contenders.js';
import { runTimed, round1 } from './measure.js';
import { removeImage, startServices, upload, waitUntilDone } from './service-path.js';

interface Contender {
  label: string;
  workers: number;
  splitPixels: number;
}

interface Row {
  label: string;
  wallS: number[];
  /** Peak RSS of each worker process, per run. */
  workerRssMB: number[][];
  /** CPU seconds of all worker processes together (start to stop: the job plus each process's start), per run. */
  workerCpuS: number[];
  /** SHA-256 over every tile's key and bytes in S3, per run: a split must give the whole cut's. */
  pyramids: string[];
}

const log = (msg: string) => process.stderr.write(`bench --split: ${msg}\n`);

export async function splitBench(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      split: { type: 'boolean' },
      image: { type: 'string' },
      'split-pixels': { type: 'string', default: '100000000' },
      // 1, 2, 4, 8 workers, as far as this machine has cores (at least 1 and 2).
      workers: { type: 'string', default: [1, 2, 4, 8].filter((n) => n <= Math.max(2, cpus().length)).join(',') },
      runs: { type: 'string', default: '1' },
      out: { type: 'string', default: join(REPO_DIR, 'bench', 'results', 'split.md') },
    },
    strict: true,
  });
  assertBuiltCli();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const image = values.image ?? join(process.env.HOME ?? '/root', '.cache', 'hugemap-corpus', 'photo-236mp.jpg');
  const splitPixels = Number(values['split-pixels']);
  const runs = Number(values.runs);
  const workerCounts = values.workers!.split(',').map(Number);
  const meta = await sharp(image, { limitInputPixels: false }).metadata();
  const plan = planBands(meta.width!, meta.height!, splitPixels);
  if (!plan) throw new Error(`${image} (${meta.width}x${meta.height}) is not split at ${splitPixels} pixels`);
  const contenders: Contender[] = [
    { label: 'whole, 1 worker', workers: 1, splitPixels: 0 },
    ...workerCounts.map((w) => ({ label: `split, ${w} worker${w > 1 ? 's' : ''}`, workers: w, splitPixels })),
  ];

  const scratch = join(tmpdir(), `hugemap-bench-split-${process.pid}`);
  await mkdir(scratch, { recursive: true });
  const servers = await startLocalServers({ dataDir: join(scratch, 'servers'), logDir: join(scratch, 'logs'), env: process.env });
  const tag = randomBytes(4).toString('hex');
  const mongo = new URL(servers.mongoUrl);
  if (mongo.pathname === '/' || mongo.pathname === '') mongo.pathname = `/hugemap_bench_${tag}`;
  const bucket = `hugemap-bench-${tag}`;
  const s3 = new S3Store({ ...servers.s3, bucket, forcePathStyle: true });
  await s3.ensureBucket();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: servers.redisUrl,
    MONGO_URL: mongo.toString(),
    S3_ENDPOINT: servers.s3.endpoint,
    S3_REGION: servers.s3.region,
    S3_BUCKET: bucket,
    S3_ACCESS_KEY_ID: servers.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    QUEUE_PREFIX: `bench-${tag}`,
    WORK_DIR: join(scratch, 'work'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    // Loopback only, for this run: uploads without an account.
    AUTH_MODE: 'open',
  };
  const rows: Row[] = contenders.map((c) => ({ label: c.label, wallS: [], workerRssMB: [], workerCpuS: [], pyramids: [] }));
  const vips: number[] = [];
  const vipsRss: number[] = [];
  const vipsCpu: number[] = [];
  const loadAtStart = loadavg().map((l) => Math.round(l * 10) / 10);
  try {
    for (let run = 0; run < runs; run++) {
      const out = join(scratch, 'vips');
      const m = await runTimed('vips', ['dzsave', image, join(out, 'image'), '--tile-size', '256', '--overlap', '0', '--depth', 'onepixel', '--suffix', '.jpeg[Q=85]'], join(scratch, 'vips.time'), { timeoutMs: 30 * 60_000 });
      await rm(out, { recursive: true, force: true });
      vips.push(m.wallS);
      vipsRss.push(m.peakRssMB);
      vipsCpu.push(m.cpuS);
      log(`vips dzsave: ${round1(m.wallS)} s`);
      for (const [i, c] of contenders.entries()) {
        const services = await startServices({ env }, join(scratch, `services-${i}-${run}`), c.workers, true, { WORKER_SPLIT_PIXELS: String(c.splitPixels) });
        try {
          const t0 = performance.now();
          const id = await upload(services.url, image);
          await waitUntilDone(services.url, id, 30 * 60_000);
          const wallS = (performance.now() - t0) / 1000;
          rows[i]!.wallS.push(wallS);
          rows[i]!.pyramids.push(await pyramidDigest(s3, id));
          await removeImage(services.url, s3, id);
          log(`${c.label}: ${round1(wallS)} s`);
        } finally {
          const measured = await Promise.all(services.workerProcs.map((w) => w.stop()));
          await services.api?.stop();
          rows[i]!.workerRssMB.push(measured.map((m) => m.peakRssMB));
          rows[i]!.workerCpuS.push(measured.reduce((sum, m) => sum + m.cpuS, 0));
        }
      }
    }
  } finally {
    await s3.deletePrefix('').catch(() => undefined);
    await servers.stop();
    await rm(scratch, { recursive: true, force: true });
  }

  const vipsS = median(vips);
  const whole = median(rows[0]!.wallS);
  const lines = [
    `# Split jobs: ${image.split('/').pop()} (${meta.width}x${meta.height}, ${round1((meta.width! * meta.height!) / 1e6)} MP)`,
    '',
    `\`npm run bench -- --split --split-pixels ${splitPixels} --workers ${workerCounts.join(',')} --runs ${runs}\`, ${new Date().toISOString()}; ` +
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 1e9)} GB; load average at start ${loadAtStart.join(' ')}; ` +
      `temporary files, worker scratch and MinIO's data under ${tmpdir()} (compare within this table only).`,
    `Split: ${plan.bands} bands of ${plan.bandHeight} rows, k = ${plan.shrinks}. Service path: upload start to status done, API and workers as processes, MinIO; ` +
      'each contender with fresh worker processes (no warm-up image); peak RSS from /usr/bin/time -v per worker process.',
    '',
    '| contender | wall s, median (range) | x whole, 1 worker | x vips dzsave | workers\' CPU s, median | peak RSS per worker, MB (max over runs) | tiles = whole cut\'s |',
    '|---|---|---|---|---|---|---|',
    `| vips dzsave (Debian CLI) | ${range(vips)} | | 1.00x | ${round1(median(vipsCpu))} | ${Math.max(...vipsRss)} | |`,
    ...rows.map((r) => {
      const m = median(r.wallS);
      const perWorker = r.workerRssMB[0]!.map((_, w) => Math.max(...r.workerRssMB.map((runRss) => runRss[w] ?? 0)));
      const same = r.pyramids.every((p) => p === rows[0]!.pyramids[0]) ? 'yes, byte for byte' : 'NO';
      return `| ${r.label} | ${range(r.wallS)} | ${(whole / m).toFixed(2)}x faster | ${(m / vipsS).toFixed(2)}x | ${round1(median(r.workerCpuS))} | ${perWorker.join(', ')} | ${same} |`;
    }),
    '',
  ];
  const table = lines.join('\n');
  await mkdir(join(values.out!, '..'), { recursive: true });
  await writeFile(values.out!, table);
  process.stdout.write(table);
  return table;
}

/** SHA-256 over the keys and bytes of every tile of the image in S3, in key order. */
async function pyramidDigest(s3: S3Store, id: string): Promise<string> {
  const prefix = `images/${id}/image_files/`;
  const keys: string[] = [];
  for await (const o of s3.listKeys(prefix)) keys.push(o.key);
  keys.sort();
  const hash = createHash('sha256');
  for (let i = 0; i < keys.length; i += 32) {
    const bodies = await Promise.all(keys.slice(i, i + 32).map(async (key) => {
      const { stream } = await s3.getStream(key);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    }));
    bodies.forEach((b, j) => hash.update(keys[i + j]!.slice(prefix.length)).update(b));
  }
  return `${keys.length}:${hash.digest('hex')}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function range(xs: number[]): string {
  return xs.length === 1 ? round1(xs[0]!).toFixed(1) : `${round1(median(xs)).toFixed(1)} (${round1(Math.min(...xs)).toFixed(1)}-${round1(Math.max(...xs)).toFixed(1)})`;
}
