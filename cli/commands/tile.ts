/**
 * `hugemap tile INPUT --out DIR`: runs the tiling library in this process, no
 * servers. Quiet unless stderr is a terminal (then a progress bar); one summary
 * line on stdout. Any failure is ONE line on stderr, `hugemap: CODE: message`,
 * exit 1; a command line that cannot run exits 2.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { InterruptedError, toHugemapError, UsageError } from '../../shared/errors.js';
import { DEFAULT_MAX_BUFFERED_PIXELS, DEFAULT_MAX_PIXELS, JPEG_ENCODERS, TILE_FORMATS, tileImage, type JpegEncoder, type TileFormat, type TileManifest, type TileProgress } from '../../shared/tiling/index.js';

export function tileCommand(): Command {
  return new Command('tile')
    .description('tile one image into a Deep Zoom folder (image.dzi, image_files/, thumbnail.jpg, manifest.json)')
    .argument('<input>', 'image file: JPEG, PNG, TIFF or WebP')
    .requiredOption('--out <dir>', 'output folder (a previous result there is replaced)')
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
    // 2 threads: 18-32% faster than sharp's glibc default of 1 for +26-28 MB at 236 MP (docs/memory.md);
    // a one-shot process does not suffer the long-run glibc fragmentation that default guards against.
    .option('--concurrency <n>', 'libvips threads', integerIn('concurrency', 1, 64), DEFAULT_CLI_CONCURRENCY)
    .configureOutput({ outputError: (message, write) => write(usageLine(message)) })
    // Usage errors exit 2 with the one line above; help and --version exit 0.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action(runTile);
}

const DEFAULT_CLI_CONCURRENCY = 2;

interface TileFlags {
  out: string;
  format?: TileFormat;
  quality?: number;
  jpegEncoder: JpegEncoder;
  maxPixels: number;
  maxBufferedPixels: number;
  concurrency: number;
}

async function runTile(input: string, flags: TileFlags): Promise<void> {
  const started = Date.now();
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => abort.abort(new InterruptedError(`tiling (${signal})`));
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const bar = process.stderr.isTTY ? new ProgressBar() : undefined;
  try {
    const manifest = await tileImage(input, flags.out, {
      format: flags.format,
      quality: flags.quality,
      jpegEncoder: flags.jpegEncoder,
      maxPixels: flags.maxPixels,
      maxBufferedPixels: flags.maxBufferedPixels,
      concurrency: flags.concurrency,
      onProgress: bar && ((p) => bar.update(p)),
      signal: abort.signal,
    });
    bar?.stop();
    process.stdout.write(`${summary(manifest, flags.out, (Date.now() - started) / 1000)}\n`);
  } catch (err) {
    bar?.stop();
    const e = toHugemapError(err);
    process.stderr.write(`hugemap: ${e.code}: ${oneLine(e.message)}\n`);
    // libvips cannot be interrupted: exit now rather than wait for it. A leftover staging folder
    // holds no image.dzi and is removed by the next run into the same folder.
    if (abort.signal.aborted) process.exit(130);
    process.exitCode = 1;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

export function summary(m: TileManifest, outDir: string, seconds: number): string {
  return (
    `${m.width}x${m.height} ${m.format} q${m.quality}${m.jpegEncoder ? ` (${m.jpegEncoder})` : ''}: ${m.levels} levels, ${m.tiles} tiles, ` +
    `${m.bytes} bytes in ${seconds.toFixed(1)} s -> ${outDir}`
  );
}

class ProgressBar {
  private readonly bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{stage} [{bar}] {percentage}% | {value}/{total} tiles | level {levelsDone}/{levels} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  private started = false;

  update(p: TileProgress): void {
    const payload = { stage: p.stage.padEnd(9), levelsDone: p.levelsDone, levels: p.levels };
    if (!this.started) {
      this.bar.start(p.tilesTotal, p.tilesDone, payload);
      this.started = true;
    } else {
      this.bar.update(p.tilesDone, payload);
    }
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
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

function usageLine(commanderMessage: string): string {
  const text = oneLine(commanderMessage.replace(/^error:\s*/i, ''));
  return `hugemap: ${new UsageError(text).code}: ${text}\n`;
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
