/**
 * `node --import tsx bench/encoders.ts [--out DIR] [SOURCE...]`: JPEG tile encoder settings
 * side by side: bytes of the whole tile set, SSIM of the top level against the source
 * (bench/ssim.ts), and wall time of the tiling call (2 libvips threads), next to Debian's
 * `vips dzsave` at the same quality ("libvips' default output": its own JPEG settings).
 * Writes encoders.json and encoders.md. Default sources: the 59 MP PNG (no earlier JPEG grid:
 * the fair test) and the 59 MP JPEG (the common case: re-encoding a Q85 JPEG).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type JpegOptions } from 'sharp';
import { REPO_DIR } from './contenders.js';
import { folderBytes } from './measure.js';
import { tileSetSsim } from './ssim.js';

interface Setting {
  name: string;
  jpeg?: JpegOptions;
}

const plain = (quality: number): JpegOptions => ({ quality, optimiseCoding: true, progressive: false });
const trellis = (quality: number): JpegOptions => ({ ...plain(quality), trellisQuantisation: true, overshootDeringing: true, quantisationTable: 3 });

export const SETTINGS: Setting[] = [
  { name: 'vips dzsave CLI Q85 (libvips default encoder)' },
  { name: 'sharp q85, no Huffman optimisation', jpeg: { quality: 85, optimiseCoding: false } },
  ...[75, 80, 85, 90].map((q) => ({ name: `sharp q${q} + optimised Huffman`, jpeg: plain(q) })),
  { name: 'sharp q85 + optimised Huffman, table 3', jpeg: { ...plain(85), quantisationTable: 3 } },
  ...[85, 90, 92].map((q) => ({ name: `sharp q${q} + trellis, deringing, table 3`, jpeg: trellis(q) })),
];

export interface EncoderRow {
  source: string;
  setting: string;
  bytes: number;
  ssim: number;
  seconds: number;
}

async function tileWith(source: string, out: string, s: Setting): Promise<number> {
  const t0 = performance.now();
  if (!s.jpeg) {
    execFileSync('vips', ['dzsave', source, join(out, 'image'), '--tile-size', '256', '--overlap', '0', '--depth', 'onepixel', '--suffix', '.jpeg[Q=85]']);
  } else {
    await sharp(source, { limitInputPixels: false }).jpeg(s.jpeg).tile({ size: 256, overlap: 0, layout: 'dz', depth: 'onepixel' }).toFile(join(out, 'image'));
  }
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true });
  const corpus = join(homedir(), '.cache', 'hugemap-corpus');
  const sources = positionals.length > 0 ? positionals : [join(corpus, 'photo-59mp.png'), join(corpus, 'photo-59mp.jpg')];
  sharp.concurrency(2);
  const scratch = join(tmpdir(), `hugemap-encoders-${process.pid}`);
  const rows: EncoderRow[] = [];
  try {
    for (const source of sources) {
      for (const s of SETTINGS) {
        const out = join(scratch, 'out');
        await rm(out, { recursive: true, force: true });
        await mkdir(out, { recursive: true });
        const seconds = await tileWith(source, out, s);
        const files = join(out, 'image_files');
        const { ssim } = await tileSetSsim(source, files, 'jpeg');
        rows.push({ source: basename(source), setting: s.name, bytes: await folderBytes(files), ssim, seconds: Math.round(seconds * 100) / 100 });
        process.stderr.write(`encoders: ${basename(source)} ${s.name}: ${rows.at(-1)!.bytes} bytes, SSIM ${ssim.toFixed(5)}, ${seconds.toFixed(2)} s\n`);
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const outDir = values.out ?? join(REPO_DIR, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'encoders.json'), `${JSON.stringify(rows, null, 2)}\n`);
  await writeFile(join(outDir, 'encoders.md'), encodersMarkdown(rows));
}

export function encodersMarkdown(rows: EncoderRow[]): string {
  const out = ['# JPEG tile encoder settings', '', '`node --import tsx bench/encoders.ts`: whole tile set (256 px, all levels), SSIM of sampled top-level tiles vs the source (luma, 8x8 windows), one run, 2 threads.', ''];
  for (const source of [...new Set(rows.map((r) => r.source))]) {
    const group = rows.filter((r) => r.source === source);
    const ref = group[0]!;
    out.push(`## ${source}`, '', '| setting | tile bytes | vs vips dzsave | SSIM | seconds |', '|---|---|---|---|---|');
    for (const r of group) out.push(`| ${r.setting} | ${r.bytes} | ${(((r.bytes - ref.bytes) / ref.bytes) * 100).toFixed(1)}% | ${r.ssim.toFixed(5)} | ${r.seconds.toFixed(2)} |`);
    out.push('');
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
