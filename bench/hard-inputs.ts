/**
 * `npm run bench -- --hard [--image FILE] [--runs N] [--out FILE]`: the hard inputs of issue 26
 * (progressive JPEG, also with restart markers every 4 MCUs, Adam7 PNG, CMYK JPEG), made from one photo (default the 236 MP corpus photo)
 * with the same `vips` recipes as the full benchmark's hard cases, each cut by `hugemap tile` and
 * by `vips dzsave`, alternating, under /usr/bin/time -v. The target is at most 1.3x vips' time at
 * at most 300 MB peak RSS. Each cut's tile count is checked against vips' (same pyramid geometry).
 * Prints a Markdown table and writes it to `--out` (default bench/results/hard-inputs.md).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { assertBuiltCli, HUGEMAP_TILE, REPO_DIR, VIPS, type OneShot } from './contenders.js';
import { cmyk, ensure, interlaced, progressive, progressiveRestarts } from './corpus.js';
import { round1, runTimed } from './measure.js';
import { rotation, spread } from './stats.js';

interface HardCase {
  kind: string;
  suffix: string;
  make: (from: string, to: string) => Promise<void>;
}

const CASES: HardCase[] = [
  { kind: 'progressive JPEG', suffix: '-prog.jpg', make: progressive },
  { kind: 'progressive JPEG, restart every 4 MCUs', suffix: '-prog-rst.jpg', make: progressiveRestarts },
  { kind: 'Adam7 PNG', suffix: '-interlaced.png', make: interlaced },
  { kind: 'CMYK JPEG', suffix: '-cmyk.jpg', make: cmyk },
];

interface Cell {
  wallS: number[];
  cpuS: number[];
  peakRssMB: number[];
  tiles: number[];
}

const log = (msg: string) => process.stderr.write(`bench --hard: ${msg}\n`);

export async function hardInputsBench(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      hard: { type: 'boolean' },
      image: { type: 'string' },
      runs: { type: 'string', default: '3' },
      out: { type: 'string', default: join(REPO_DIR, 'bench', 'results', 'hard-inputs.md') },
    },
    strict: true,
  });
  assertBuiltCli();
  const photo = values.image ?? join(process.env.HOME ?? '/root', '.cache', 'hugemap-corpus', 'photo-236mp.jpg');
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
  const stem = join(dirname(photo), basename(photo, extname(photo)));
  const scratch = join(tmpdir(), `hugemap-bench-hard-${process.pid}`);
  await mkdir(scratch, { recursive: true });
  const loadAtStart = loadavg().map((l) => Math.round(l * 10) / 10);
  const started = new Date().toISOString();
  const contenders: OneShot[] = [VIPS, HUGEMAP_TILE];
  const sections: string[] = [];
  try {
    for (const hard of CASES) {
      const input = `${stem}${hard.suffix}`;
      // Made once beside the photo (same names as the full benchmark's hard cases) and kept.
      await ensure(input, (tmp) => hard.make(photo, tmp));
      const meta = await sharp(input, { limitInputPixels: false }).metadata();
      const cells = new Map<string, Cell>(contenders.map((c) => [c.id, { wallS: [], cpuS: [], peakRssMB: [], tiles: [] }]));
      for (let run = 0; run < runs; run++) {
        for (const contender of rotation(contenders, run)) {
          const out = join(scratch, contender.id);
          await rm(out, { recursive: true, force: true });
          await mkdir(out, { recursive: true });
          const { command, args, env } = contender.command(input, out);
          const m = await runTimed(command, args, join(scratch, `${contender.id}.time`), env ? { env } : {});
          const cell = cells.get(contender.id)!;
          cell.wallS.push(m.wallS);
          cell.cpuS.push(m.cpuS);
          cell.peakRssMB.push(m.peakRssMB);
          cell.tiles.push(await tileCount(join(out, 'image_files')));
          log(`${hard.kind}, ${contender.label}: ${m.wallS.toFixed(2)} s, ${m.cpuS} CPU-s, ${m.peakRssMB} MB`);
          await rm(out, { recursive: true, force: true });
        }
      }
      sections.push(table(hard.kind, input, meta.width!, meta.height!, cells, contenders));
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const report = [
    '# Hard inputs against vips dzsave',
    '',
    `\`npm run bench -- --hard --runs ${runs}\`, ${started}; ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), ${Math.round(totalmem() / 1e9)} GB; load average at start ${loadAtStart.join(' ')}.`,
    `Each file made from ${basename(photo)} with the \`vips\` recipes of bench/corpus.ts; ${runs} alternating run(s) per contender, median (min-max); output on ${tmpdir()}. Target (issue 26): at most 1.3x vips dzsave's time, at most 300 MB.`,
    '',
    ...sections,
  ].join('\n');
  process.stdout.write(`${report}\n`);
  await writeFile(values.out!, `${report}\n`);
  return report;
}

/** Tiles under a dzsave folder (vips also writes a vips-properties.xml there). */
async function tileCount(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && /\.(jpe?g|png)$/.test(e.name)).length;
}

function table(kind: string, input: string, width: number, height: number, cells: Map<string, Cell>, contenders: OneShot[]): string {
  const vipsWall = spread(cells.get(VIPS.id)!.wallS).median;
  const vipsTiles = cells.get(VIPS.id)!.tiles[0];
  const rows = contenders.map((c) => {
    const cell = cells.get(c.id)!;
    const wall = spread(cell.wallS);
    const sameTiles = cell.tiles.every((t) => t === vipsTiles) ? 'yes' : `no (${cell.tiles.join(', ')})`;
    return `| ${c.label} | ${wall.median.toFixed(2)} (${wall.min.toFixed(2)}-${wall.max.toFixed(2)}) | ${(wall.median / vipsWall).toFixed(2)}x | ${round1(spread(cell.cpuS).median)} | ${round1(Math.max(...cell.peakRssMB))} | ${sameTiles} |`;
  });
  return [
    `## ${kind}: ${basename(input)} (${width}x${height}, ${round1((width * height) / 1e6)} MP)`,
    '',
    '| contender | wall s, median (range) | x vips dzsave | CPU s, median | peak RSS MB, max | as many tiles as vips |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
