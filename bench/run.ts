/**
 * `npm run bench`: tiles the same images with every contender, alternating, several runs each,
 * and writes bench/results/{full|quick}.{json,md,png}.
 *
 *   npm run bench                      59 and 236 MP photos, hard cases, 3 runs, throughput (as many rounds as runs)
 *   npm run bench -- --runs 5 --giga   also the 944 MP photo
 *   npm run bench -- --quick           tiny images, 1 run: proves the harness in well under a minute
 * Other flags: --no-gdal, --no-service, --no-hard-cases, --no-throughput, --queue N (images in the
 * throughput queue, default 8), --throughput-s3 minio|versitygw (the S3 server of the throughput
 * runs, default minio), --only IMAGE[,IMAGE],
 * --contenders ID[,ID] (vips-dzsave, sharp-tile, gdal2tiles, hugemap-tile, hugemap-tile-sharp, service-path,
 * service-path-versitygw, dzsave-rclone), --out DIR. Needs: the built CLI (npm run build), /usr/bin/time, Debian's vips (and
 * gdal2tiles, skipped with a note when missing), and for the service path and the shell-script
 * baseline (dzsave-rclone) redis-server + FerretDB + MinIO + rclone (tools/build-test-servers.sh) or
 * REDIS_URL / MONGO_URL / S3_ENDPOINT; versitygw for service-path-versitygw.
 */
import { appendFile, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { writeChart } from './chart.js';
import { assertBuiltCli, GDAL, gdal2tilesBinary, hasVips, HUGEMAP_TILE, HUGEMAP_TILE_SHARP, REPO_DIR, SHARP, toolVersions, VIPS, type OneShot } from './contenders.js';
import { fullCorpus, quickCorpus, type BenchImage } from './corpus.js';
import { folderBytes, round1, runTimed } from './measure.js';
import { markdownReport } from './report.js';
import type { BenchResults, ContenderResult, MemoryPoint, RunFigures, ThroughputResult } from './results.js';
import { runServicePath, runThroughput, startStack, type Stack, type ThroughputRun } from './service-path.js';
import { rcloneBinary, rcloneVersion, runShellScript, SHELL_SCRIPT } from './shell-script.js';
import { hardInputsBench } from './hard-inputs.js';
import { splitBench } from './split.js';
import { FIRST_VIEW_PX } from '../shared/tiling/pyramid.js';
import { isS3ServerKind, S3_SERVER_KINDS, type S3ServerKind } from '../services/dev/local-servers.js';
import { rotation, spread } from './stats.js';
import { summariseThroughput } from './throughput.js';

// The worker takes TILE_JPEG_ENCODER from this process's environment, like every other setting.
const WORKER_JPEG_ENCODER = process.env.TILE_JPEG_ENCODER;
const SERVICE = {
  id: 'service-path',
  label: `service path (upload -> last tile in S3)${WORKER_JPEG_ENCODER ? `, TILE_JPEG_ENCODER=${WORKER_JPEG_ENCODER}` : ''}`,
} as const;
/**
 * The same service with versitygw as its S3 server instead of MinIO. Here the S3 server shares the
 * 2 cores with everything else, which production's S3 does not; MinIO spends about a third of a
 * 236 MP job's CPU (bench/service-cpu.ts), versitygw under half of that, so the two rows bracket
 * how much of the service path's time is the stand-in S3 server rather than hugemap.
 */
const SERVICE_VERSITYGW = { id: 'service-path-versitygw', label: 'service path, S3 on versitygw' } as const;

interface Flags {
  quick: boolean;
  runs: number;
  giga: boolean;
  gdal: boolean;
  service: boolean;
  hardCases: boolean;
  throughput: boolean;
  /** Images in the throughput queue. */
  queue: number;
  /** The S3 server the throughput runs' stack uses. */
  throughputS3: S3ServerKind;
  only: string[];
  contenders: string[];
  out: string;
}

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      giga: { type: 'boolean', default: false },
      'no-gdal': { type: 'boolean', default: false },
      'no-service': { type: 'boolean', default: false },
      'no-hard-cases': { type: 'boolean', default: false },
      'no-throughput': { type: 'boolean', default: false },
      queue: { type: 'string' },
      'throughput-s3': { type: 'string', default: 'minio' },
      only: { type: 'string' },
      contenders: { type: 'string' },
      out: { type: 'string' },
    },
    strict: true,
  });
  const runs = integerFlag('runs', values.runs, values.quick ? 1 : 3, 1, 50);
  // 8, not 4: with 4 images of 59 MP the two workers' ramp-up and last-image tail were a fixed part of
  // each run, 1.69x (1.68x-1.71x) against 1.81x (1.80x-1.83x) with 8, three rounds each (2026-12-05).
  const queue = integerFlag('queue', values.queue, values.quick ? 2 : 8, 2, 64);
  const throughputS3 = values['throughput-s3']!;
  if (!isS3ServerKind(throughputS3)) throw new Error(`--throughput-s3 must be ${S3_SERVER_KINDS.join(' or ')}, got ${throughputS3}`);
  return {
    quick: values.quick!,
    runs,
    giga: values.giga!,
    gdal: !values['no-gdal'],
    service: !values['no-service'],
    hardCases: !values['no-hard-cases'],
    throughput: !values['no-throughput'],
    queue,
    throughputS3,
    only: values.only ? values.only.split(',') : [],
    contenders: values.contenders ? values.contenders.split(',') : [],
    out: values.out ?? join(REPO_DIR, 'bench', 'results'),
  };
}

/** A whole-number flag `--name` from min to max, `fallback` when not given. */
function integerFlag(name: string, given: string | undefined, fallback: number, min: number, max: number): number {
  const n = Number(given ?? fallback);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${given}`);
  return n;
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

export async function main(argv: string[]): Promise<BenchResults> {
  const flags = parseFlags(argv);
  assertBuiltCli();
  // The AWS SDK's Node 20 end-of-support notice, printed by every process that makes a client, would bury the log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const startedAt = new Date().toISOString();
  const loadAvgAtStart = loadavg();
  const scratch = join(tmpdir(), `hugemap-bench-${process.pid}`);
  await mkdir(scratch, { recursive: true });
  const skipped: string[] = [];

  log(flags.quick ? 'making quick images' : 'making the corpus (first time: minutes)');
  let images = flags.quick ? await quickCorpus(join(scratch, 'corpus')) : await fullCorpus({ giga: flags.giga, hardCases: flags.hardCases });
  if (flags.only.length > 0) images = images.filter((i) => flags.only.includes(i.name));
  if (!flags.hardCases) images = images.filter((i) => i.timed);

  const oneShots: OneShot[] = [];
  if (hasVips()) oneShots.push(VIPS);
  else skipped.push('vips dzsave: `vips` not found (apt-get install libvips-tools)');
  oneShots.push(SHARP);
  if (flags.gdal && gdal2tilesBinary()) oneShots.push(GDAL);
  else skipped.push(flags.gdal ? 'gdal2tiles: not found (apt-get install gdal-bin)' : 'gdal2tiles: --no-gdal');
  oneShots.push(HUGEMAP_TILE, HUGEMAP_TILE_SHARP);

  let stack: Stack | undefined;
  let versitygwStack: Stack | undefined;
  /** The throughput runs' stack when it is not MinIO's (`--throughput-s3`). */
  let throughputOwnStack: Stack | undefined;
  const wanted = (id: string) => flags.contenders.length === 0 || flags.contenders.includes(id);
  if (flags.service) {
    try {
      stack = await startStack(join(scratch, 'stack'), { quick: flags.quick });
    } catch (err) {
      skipped.push(`service path: ${(err as Error).message.split('\n')[0]}`);
    }
    if (wanted(SERVICE_VERSITYGW.id)) {
      try {
        versitygwStack = await startStack(join(scratch, 'stack-versitygw'), { s3Server: 'versitygw', quick: flags.quick });
      } catch (err) {
        skipped.push(`${SERVICE_VERSITYGW.id}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  } else skipped.push('service path: --no-service');
  // The shell script a user would write instead (bench/shell-script.ts): it uploads to the stack's S3.
  let rclone: string | undefined;
  if (stack && hasVips()) {
    try {
      rclone = rcloneBinary();
    } catch (err) {
      skipped.push(`shell script (dzsave, rclone): ${(err as Error).message}`);
    }
  } else skipped.push('shell script (dzsave, rclone): needs vips and the service stack');

  const results: ContenderResult[] = [];
  const memoryCurve: MemoryPoint[] = [];
  const throughput: ThroughputResult[] = [];
  try {
    const contenderIds = [
      ...oneShots.map((c) => c.id),
      ...(stack ? [SERVICE.id] : []),
      ...(versitygwStack ? [SERVICE_VERSITYGW.id] : []),
      ...(rclone ? [SHELL_SCRIPT.id] : []),
    ].filter(wanted);
    const runOnce = (id: string, image: BenchImage): Promise<RunFigures> => {
      if (id === SERVICE.id) return serviceRun(stack!, image, scratch);
      if (id === SERVICE_VERSITYGW.id) return serviceRun(versitygwStack!, image, scratch);
      if (id === SHELL_SCRIPT.id) return runShellScript(stack!, rclone!, image.path, scratch);
      return oneShotRun(oneShots.find((c) => c.id === id)!, image, scratch);
    };
    for (const image of images.filter((i) => i.timed)) {
      const runs = new Map<string, RunFigures[]>(contenderIds.map((id) => [id, []]));
      for (let i = 0; i < flags.runs; i++) {
        for (const id of rotation(contenderIds, i)) {
          const figures = await runOnce(id, image);
          runs.get(id)!.push(figures);
          log(`${image.name} run ${i + 1}/${flags.runs} ${id}: ${figures.wallS.toFixed(2)} s, ${figures.peakRssMB.toFixed(0)} MB (own ${(figures.workerAnonMB ?? figures.peakAnonMB ?? 0).toFixed(0)} MB)`);
        }
      }
      const vipsMedian = runs.has(VIPS.id) ? spread(runs.get(VIPS.id)!.map((r) => r.wallS)).median : undefined;
      for (const id of contenderIds) {
        const label = [SERVICE, SERVICE_VERSITYGW, SHELL_SCRIPT].find((c) => c.id === id)?.label ?? oneShots.find((c) => c.id === id)!.label;
        results.push(summarise(image, id, label, runs.get(id)!, vipsMedian));
      }
    }

    // Its part is done: an idle second stack (API, worker polling Redis, servers) must not share
    // the cores with the memory curve and the throughput runs, which use the MinIO stack.
    await versitygwStack?.stop();
    versitygwStack = undefined;

    for (const image of images) {
      memoryCurve.push(
        await memoryPoint(image, results, stack, scratch).catch((err: unknown) => {
          // One failed measurement is reported in the results, not allowed to throw away the others.
          log(`memory ${image.name} failed: ${(err as Error).message}`);
          return { image: image.name, kind: image.kind, megapixels: image.megapixels, hugemapTile: null, worker: null, failed: (err as Error).message.split('\n')[0] };
        }),
      );
      const p = memoryCurve.at(-1)!;
      log(`memory ${image.name}: hugemap tile ${p.hugemapTile?.peakRssMB ?? '-'} MB (own ${p.hugemapTile?.peakAnonMB ?? '-'}), worker ${p.worker?.peakRssMB ?? '-'} MB (own ${p.worker?.peakAnonMB ?? '-'})${p.refused ? ` (refused: ${p.refused})` : ''}`);
    }

    // The throughput runs on MinIO's stack, or on a versitygw stack of their own (started only now:
    // an idle second stack must not share the cores with the timed runs).
    if (stack && flags.throughput && flags.throughputS3 !== 'minio') {
      throughputOwnStack = await startStack(join(scratch, 'stack-throughput'), { s3Server: flags.throughputS3, quick: flags.quick });
    }
    const throughputStack = throughputOwnStack ?? stack;
    if (throughputStack && flags.throughput) {
      const base = images.find((i) => i.timed)!;
      // Rounds like the contenders' runs: every worker count once per round, in rotated order.
      const rounds: ThroughputRun[][] = [];
      for (let round = 0; round < flags.runs; round++) {
        const runs: ThroughputRun[] = [];
        for (const workers of rotation([1, 2], round)) {
          const queue = await distinctCopies(base, flags.queue, join(scratch, `queue-${workers}`), `workers-${workers}-round-${round}`);
          const t = await runThroughput(throughputStack, queue, workers, join(scratch, `throughput-${workers}`));
          runs.push(t);
          log(`throughput round ${round + 1}/${flags.runs}, ${workers} worker(s): ${t.imagesPerMinute} images/min`);
        }
        rounds.push(runs);
      }
      throughput.push(...summariseThroughput(base.name, rounds).map((t) => ({ ...t, s3Server: flags.throughputS3 })));
    } else skipped.push(stack ? 'throughput: --no-throughput' : 'throughput: no service path');
  } finally {
    await Promise.all([stack?.stop(), versitygwStack?.stop(), throughputOwnStack?.stop()]);
    await rm(scratch, { recursive: true, force: true });
  }

  const report: BenchResults = {
    meta: {
      startedAt,
      finishedAt: new Date().toISOString(),
      command: `${WORKER_JPEG_ENCODER ? `TILE_JPEG_ENCODER=${WORKER_JPEG_ENCODER} ` : ''}npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      quick: flags.quick,
      runs: flags.runs,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGB: Math.round(totalmem() / 1e9), loadAvgAtStart: loadAvgAtStart.map((l) => Math.round(l * 100) / 100) },
      versions: { node: process.version, sharp: sharp.versions.sharp ?? '', 'libvips (sharp)': sharp.versions.vips, ...toolVersions(), ...(rclone ? { rclone: rcloneVersion(rclone) } : {}) },
      workerAllocator: stack?.workerAllocator ?? '-',
      firstViewDefinition: `upload start until the status says every tile of levels 0..L is in S3 (tiles.viewable), L being the first level at least ${FIRST_VIEW_PX} px on its longer side (what a viewer needs to show the whole image sharply in a ${FIRST_VIEW_PX} px window). Preview (JPEG inputs): upload start until the status links the preview, the whole image at level L's size in one JPEG, which the viewer shows before any tile.`,
      skipped,
    },
    images: images.map(({ name, kind, width, height, megapixels, bytes }) => ({ name, kind, width, height, megapixels, bytes })),
    results,
    memoryCurve,
    throughput,
  };
  await mkdir(flags.out, { recursive: true });
  const base = join(flags.out, flags.quick ? 'quick' : flags.giga ? 'full-giga' : 'full');
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, markdownReport(report));
  await writeChart(report, `${base}.png`);
  log(`wrote ${base}.json, .md, .png`);
  return report;
}

/** Peak RSS of `hugemap tile` and of the worker for one image; a refusal by design is recorded, not fatal. */
async function memoryPoint(image: BenchImage, results: ContenderResult[], stack: Stack | undefined, scratch: string): Promise<MemoryPoint> {
  const fromTimed = (id: string) => results.find((c) => c.image === image.name && c.contender === id);
  const point: MemoryPoint = { image: image.name, kind: image.kind, megapixels: image.megapixels, hugemapTile: null, worker: null };
  const refused = (err: unknown) => {
    const code = /HUGEMAP_ERR_[A-Z_]+/.exec(String((err as Error).message))?.[0];
    if (!code) throw err;
    point.refused = code;
  };
  const tile = fromTimed(HUGEMAP_TILE.id);
  if (tile) point.hugemapTile = { peakRssMB: tile.peakRssMB.max, peakAnonMB: tile.peakAnonMB?.max, wallS: tile.wallS.median };
  else {
    await oneShotRun(HUGEMAP_TILE, image, scratch).then((r) => {
      point.hugemapTile = { peakRssMB: r.peakRssMB, peakAnonMB: r.peakAnonMB, wallS: round1(r.wallS) };
    }, refused);
  }
  const service = fromTimed(SERVICE.id);
  if (service) point.worker = { peakRssMB: service.workerRssMB!.max, peakAnonMB: service.workerAnonMB?.max, wallS: service.wallS.median };
  else if (stack) {
    await serviceRun(stack, image, scratch).then((r) => {
      point.worker = { peakRssMB: r.workerRssMB!, peakAnonMB: r.workerAnonMB, wallS: round1(r.wallS) };
    }, refused);
  }
  return point;
}

async function oneShotRun(c: OneShot, image: BenchImage, scratch: string): Promise<RunFigures> {
  const out = join(scratch, `out-${c.id}`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const { command, args, env } = c.command(image.path, out);
  try {
    const m = await runTimed(command, args, join(scratch, `${c.id}.time`), { env: env ?? process.env });
    return { wallS: round3(m.wallS), peakRssMB: m.peakRssMB, peakAnonMB: m.peakAnonMB, cpuS: m.cpuS, outputBytes: await folderBytes(out) };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

let serviceRuns = 0;

async function serviceRun(stack: Stack, image: BenchImage, scratch: string): Promise<RunFigures> {
  // Fresh bytes every run (same pixels): the API dedupes by content, and a re-upload of deleted
  // bytes gets the old id, whose finished BullMQ job (same job id) is kept, so the new job is dropped.
  const [copy] = await distinctCopies(image, 1, join(scratch, 'service-input'), `run-${serviceRuns++}`);
  const r = await runServicePath(stack, { ...image, path: copy! });
  await rm(copy!, { force: true });
  return { wallS: round3(r.wallS), peakRssMB: r.peakRssMB, cpuS: r.cpuS, outputBytes: r.outputBytes, firstViewS: round3(r.firstViewS), ...(r.previewS === undefined ? {} : { previewS: round3(r.previewS) }), acceptedS: round3(r.acceptedS), apiRssMB: r.apiRssMB, workerRssMB: r.workerRssMB, workerAnonMB: r.workerAnonMB };
}

function summarise(image: BenchImage, id: string, label: string, runs: RunFigures[], vipsMedian: number | undefined): ContenderResult {
  const wallS = spread(runs.map((r) => r.wallS));
  const result: ContenderResult = {
    image: image.name,
    megapixels: image.megapixels,
    contender: id,
    label,
    runs,
    wallS,
    mpPerS: round1(image.megapixels / wallS.median),
    peakRssMB: spread(runs.map((r) => r.peakRssMB)),
    ...(runs.every((r) => r.cpuS !== undefined) ? { cpuS: spread(runs.map((r) => r.cpuS!)) } : {}),
    ...(runs.every((r) => r.peakAnonMB !== undefined) ? { peakAnonMB: spread(runs.map((r) => r.peakAnonMB!)) } : {}),
    outputBytes: spread(runs.map((r) => r.outputBytes)).median,
    ...(runs.every((r) => r.uploadS !== undefined) ? { uploadS: spread(runs.map((r) => r.uploadS!)) } : {}),
    ratioToVips: vipsMedian ? Math.round((wallS.median / vipsMedian) * 100) / 100 : null,
  };
  if (runs[0]?.firstViewS !== undefined) {
    result.firstViewS = spread(runs.map((r) => r.firstViewS!));
    if (runs.every((r) => r.previewS !== undefined)) result.previewS = spread(runs.map((r) => r.previewS!));
    if (runs.every((r) => r.acceptedS !== undefined)) {
      result.acceptedToDoneS = spread(runs.map((r) => round3(r.wallS - r.acceptedS!)));
      result.acceptedToDoneRatio = vipsMedian ? Math.round((result.acceptedToDoneS.median / vipsMedian) * 100) / 100 : null;
    }
    result.apiRssMB = spread(runs.map((r) => r.apiRssMB!));
    result.workerRssMB = spread(runs.map((r) => r.workerRssMB!));
    result.workerAnonMB = spread(runs.map((r) => r.workerAnonMB!));
  }
  return result;
}

/** The API names images by content, so every upload needs different bytes: same pixels, a distinct trailer after the image's end (JPEG EOI, PNG IEND), which decoders ignore. */
async function distinctCopies(image: BenchImage, count: number, dir: string, tag = ''): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `${i}-${image.name}`);
    await copyFile(image.path, path);
    await appendFile(path, `hugemap-bench-copy-${tag}-${i}-${process.pid}-${Date.now()}`);
    paths.push(path);
  }
  return paths;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // Exit explicitly: a keep-alive socket of a client must not hold a finished benchmark open.
  // --split and --hard are benchmarks of their own (bench/split.ts: one large image split across
  // workers; bench/hard-inputs.ts: progressive, Adam7 and CMYK inputs against vips dzsave).
  const argv = process.argv.slice(2);
  const run: Promise<unknown> = argv.includes('--split') ? splitBench(argv) : argv.includes('--hard') ? hardInputsBench(argv) : main(argv);
  run.then(() => process.exit(0), (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
