/**
 * `hugemap tile INPUT... --out DIR`: runs the tiling library in this process,
 * no servers. One input: DIR is its map folder. Several: each goes to
 * DIR/<input name without extension>/. Progress on stderr (a bar on a
 * terminal, plain lines otherwise, nothing with --quiet); one summary line per
 * image on stdout, or one JSON document with --json. Any failure is ONE line on
 * stderr, `hugemap: CODE: message`, and exit 1 once every input has been tried;
 * a command line that cannot run exits 2. A failed image leaves no folder this
 * run created.
 */
import { basename, extname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { HugemapError, InterruptedError, toHugemapError, UsageError } from '../../shared/errors.js';
import {
  DEFAULT_MAX_BUFFERED_PIXELS,
  DEFAULT_MAX_PIXELS,
  DESCRIPTOR,
  JPEG_ENCODERS,
  MANIFEST,
  THUMBNAIL,
  TILE_FORMATS,
  TILES_DIR,
  tileImage,
  type JpegEncoder,
  type TileFormat,
  type TileManifest,
  type TileProgress,
} from '../../shared/tiling/index.js';
import { withExamples } from '../help-examples.js';
import { formatBytes } from '../human-format.js';
import { firstMissingFolder, removeCreatedFolder } from '../output-folders.js';
import { progressDisplay, type ProgressMode } from '../tile-progress.js';
import { withUsageErrors } from '../usage-errors.js';
import { limitHeapGrowth } from '../../workers/process-settings.js';

/** How often a plain progress line is printed when stderr is not a terminal. */
const DEFAULT_PROGRESS_INTERVAL_MS = 2_000;
const DEFAULT_CLI_CONCURRENCY = 2;

export function tileCommand(): Command {
  const command = new Command('tile')
    .description('tile images into Deep Zoom folders (image.dzi, image_files/, thumbnail.jpg, manifest.json), on this machine, without servers')
    .argument('<input...>', 'image files: JPEG, PNG, TIFF or WebP')
    .requiredOption('--out <dir>', 'one input: its output folder; several: the parent folder, each map in <dir>/<input name>/ (a previous result there is replaced)')
    .addOption(new Option('--format <format>', 'tile format (default: jpeg, or png when the image has alpha)').choices(TILE_FORMATS))
    .option('--quality <n>', 'jpeg/webp quality 1..100 (default 85)', integerIn('quality', 1, 100))
    .addOption(
      new Option('--jpeg-encoder <encoder>', 'direct: dzsave direct mode, then Huffman tables optimised losslessly (plain 8-bit sRGB inputs; others use sharp); sharp: sharp\'s tile() with optimised Huffman tables, slower; same pixels either way')
        .choices(JPEG_ENCODERS)
        .default('direct'),
    )
    .option('--max-pixels <n>', 'pixel limit of an input', integerIn('max-pixels', 1, Number.MAX_SAFE_INTEGER), DEFAULT_MAX_PIXELS)
    .option(
      '--max-buffered-pixels <n>',
      'refuse progressive JPEGs that cannot be rewritten as baseline (12-bit, arithmetic-coded) above this many pixels (they are decoded whole in memory, ~3.7 bytes a pixel)',
      integerIn('max-buffered-pixels', 1, Number.MAX_SAFE_INTEGER),
      DEFAULT_MAX_BUFFERED_PIXELS,
    )
    // 2 threads: 18-32% faster than sharp's glibc default of 1 for about 27 MB more (docs/memory.md).
    .option('--concurrency <n>', 'libvips threads', integerIn('concurrency', 1, 64), DEFAULT_CLI_CONCURRENCY)
    .option('-q, --quiet', 'no progress on stderr (errors are still printed)')
    .option('--json', 'print the result as one JSON document on stdout instead of summary lines')
    // For tests and log-heavy CI: how often the plain progress line comes when stderr is not a terminal.
    .addOption(new Option('--progress-interval <ms>').argParser(integerIn('progress-interval', 10, 3_600_000)).default(DEFAULT_PROGRESS_INTERVAL_MS).hideHelp())
    .action(runTile);
  return withExamples(withUsageErrors(command), [
    ['hugemap tile photo.jpg --out photo-map', 'one image: the map is photo-map/image.dzi (open it in any Deep Zoom viewer)'],
    ['hugemap tile scans/*.tif --out maps/', 'several images: maps/<name>/image.dzi for each'],
    ['hugemap tile plan.png --out plan --format webp --quality 80', 'WebP tiles at quality 80'],
    ['hugemap tile huge.jpg --out m --json --quiet > result.json', 'for scripts: no progress, the result as JSON'],
    ['hugemap tile huge.jpg --out m 2> tile.log', 'stderr not a terminal: a progress line every 2 s'],
  ]);
}

interface TileFlags {
  out: string;
  format?: TileFormat;
  quality?: number;
  jpegEncoder: JpegEncoder;
  maxPixels: number;
  maxBufferedPixels: number;
  concurrency: number;
  quiet?: boolean;
  json?: boolean;
  progressInterval: number;
}

/** One input and where its map goes. */
interface Target {
  input: string;
  out: string;
}

type StageTimes = Partial<Record<TileProgress['stage'], number>>;

type ImageResult =
  | { input: string; out: string; ok: true; manifest: TileManifest; seconds: number; stageSeconds: StageTimes }
  | { input: string; out: string; ok: false; error: HugemapError; seconds: number };

async function runTile(inputs: string[], flags: TileFlags, command: Command): Promise<void> {
  // As the worker does: without the cap a 10 GP cut peaked at 324 MB, with it 268 MB (docs/performance.md).
  limitHeapGrowth();
  const started = Date.now();
  const several = inputs.length > 1;
  let targets: Target[];
  try {
    targets = planTargets(inputs, flags.out);
  } catch (err) {
    command.error(toHugemapError(err).message, { exitCode: 2 });
  }
  // Known before anything is written, so that only what this run made is removed on failure.
  const createdOut = firstMissingFolder(flags.out);

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => abort.abort(new InterruptedError(`tiling (${signal})`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const mode: ProgressMode = flags.quiet ? 'none' : process.stderr.isTTY ? 'bar' : 'lines';

  const results: ImageResult[] = [];
  try {
    for (const target of targets) {
      const result = await tileOne(target, flags, mode, abort.signal, several);
      results.push(result);
      if (result.ok) {
        if (!flags.json) process.stdout.write(`${summary(result.manifest, target.out, result.seconds)}\n`);
      } else {
        const { error } = result;
        const message = several && !error.message.includes(target.input) ? `${target.input}: ${error.message}` : error.message;
        process.stderr.write(`hugemap: ${error.code}: ${oneLine(message)}\n`);
      }
      if (abort.signal.aborted) break;
    }
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  // Nothing succeeded: not even the parent folder of several maps stays, if this run made it.
  if (!results.some((r) => r.ok)) await removeCreatedFolder(createdOut);
  if (flags.json) process.stdout.write(`${JSON.stringify(jsonReport(results, (Date.now() - started) / 1000), null, 2)}\n`);
  // libvips cannot be interrupted: exit now rather than wait for the call it is still in.
  if (abort.signal.aborted) process.exit(130);
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

async function tileOne(target: Target, flags: TileFlags, mode: ProgressMode, signal: AbortSignal, several: boolean): Promise<ImageResult> {
  const started = Date.now();
  const createdOut = firstMissingFolder(target.out);
  const progress = progressDisplay(mode, several ? target.input : basename(target.input), process.stderr, flags.progressInterval);
  const stageStarts: Array<[TileProgress['stage'], number]> = [];
  try {
    const manifest = await tileImage(target.input, target.out, {
      format: flags.format,
      quality: flags.quality,
      jpegEncoder: flags.jpegEncoder,
      maxPixels: flags.maxPixels,
      maxBufferedPixels: flags.maxBufferedPixels,
      concurrency: flags.concurrency,
      onProgress: (p) => {
        if (stageStarts.at(-1)?.[0] !== p.stage) stageStarts.push([p.stage, Date.now()]);
        progress.update(p);
      },
      // Counting tiles lists the level folders: as often as a bar redraws, as rarely as lines are
      // printed, and not at all when nothing is shown (the stage reports still time the stages).
      progressIntervalMs: mode === 'bar' ? undefined : mode === 'lines' ? flags.progressInterval : 0,
      signal,
    });
    const ended = Date.now();
    progress.finish(true);
    return { ...target, ok: true, manifest, seconds: (ended - started) / 1000, stageSeconds: stageDurations(stageStarts, ended) };
  } catch (err) {
    progress.finish(false);
    // tileImage has taken its own files out; a folder that was not there before goes too.
    await removeCreatedFolder(createdOut);
    return { ...target, ok: false, error: toHugemapError(err), seconds: (Date.now() - started) / 1000 };
  }
}

/** One input: `out` is its folder. Several: out/<name>/, the name being the file name without extension, which must differ between inputs. */
export function planTargets(inputs: string[], out: string): Target[] {
  if (inputs.length === 1) return [{ input: inputs[0]!, out }];
  const byName = new Map<string, string>();
  return inputs.map((input) => {
    const name = basename(input, extname(input));
    const clash = byName.get(name);
    if (clash !== undefined) {
      throw new UsageError(`${clash} and ${input} would both go to ${join(out, name)}; tile them in separate calls`);
    }
    byName.set(name, input);
    return { input, out: join(out, name) };
  });
}

function stageDurations(starts: Array<[TileProgress['stage'], number]>, ended: number): StageTimes {
  const times: StageTimes = {};
  starts.forEach(([stage, at], i) => {
    times[stage] = ((starts[i + 1]?.[1] ?? ended) - at) / 1000;
  });
  return times;
}

/** --json: one document for any number of inputs, so a script reads `images` the same way every time. */
function jsonReport(results: ImageResult[], seconds: number): unknown {
  return {
    ok: results.length > 0 && results.every((r) => r.ok),
    seconds,
    images: results.map((r) => {
      const out = resolve(r.out);
      if (!r.ok) return { input: r.input, out, ok: false, error: { code: r.error.code, message: oneLine(r.error.message) }, seconds: r.seconds };
      return {
        input: r.input,
        out,
        ok: true,
        files: { dzi: join(out, DESCRIPTOR), tiles: join(out, TILES_DIR), thumbnail: join(out, THUMBNAIL), manifest: join(out, MANIFEST) },
        ...r.manifest,
        seconds: r.seconds,
        stageSeconds: r.stageSeconds,
      };
    }),
  };
}

export function summary(m: TileManifest, outDir: string, seconds: number): string {
  return (
    `${m.width}x${m.height} ${m.format} q${m.quality}${m.jpegEncoder ? ` (${m.jpegEncoder})` : ''}: ${m.levels} levels, ${m.tiles} tiles, ` +
    `${formatBytes(m.bytes)} in ${seconds.toFixed(1)} s -> ${outDir}`
  );
}

function integerIn(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+(e\d+)?\s*$/i.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max.toLocaleString('en-US')}`);
    }
    return n;
  };
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
