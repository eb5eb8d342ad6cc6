/**
 * The images the benchmark runs on.
 *  - Real photographs: /work/shared/corpus/make-corpus.sh (mosaics of Debian's wallpaper photos).
 *  - Hard cases, derived from them with the `vips` CLI (Debian libvips-tools) and exiftool:
 *    progressive JPEG, Adam7 PNG, EXIF orientation 6, CMYK JPEG, 16-bit PNG.
 *  - --quick: small images cut from a photo when the corpus exists, else generated (no network,
 *    no apt), so the harness can be proven anywhere in seconds.
 * Every file is written under a temporary name and renamed when whole, so an interrupted run
 * never leaves a half image that a later run would trust.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

export const MAKE_CORPUS = process.env.HUGEMAP_MAKE_CORPUS ?? '/work/shared/corpus/make-corpus.sh';

export type ImageKind = 'jpeg' | 'png' | 'progressive-jpeg' | 'interlaced-png' | 'exif-rotated' | 'cmyk-jpeg' | '16-bit-png';

export interface BenchImage {
  name: string;
  path: string;
  kind: ImageKind;
  width: number;
  height: number;
  megapixels: number;
  bytes: number;
  /** Contenders race on it (time table); otherwise it is only in the memory curve. */
  timed: boolean;
}

interface Derived {
  name: string;
  from: string;
  kind: ImageKind;
  /** Writes `to` (a temporary name) from `from`. */
  make: (from: string, to: string) => Promise<void>;
}

const vips = async (...args: string[]) => void (await run('vips', args, { maxBuffer: 1 << 20 }));

export const progressive = (from: string, to: string) => vips('copy', from, `${to}[interlace,Q=85]`);
/** Progressive with a restart marker every 4 MCUs: the decoder looks for a marker every few MCUs. */
export const progressiveRestarts = (from: string, to: string) => vips('copy', from, `${to}[interlace,Q=85,restart-interval=4]`);
export const interlaced = (from: string, to: string) => vips('copy', from, `${to}[interlace,compression=1]`);
export const cmyk = (from: string, to: string) => vips('colourspace', from, `${to}[Q=85]`, 'cmyk');
const sixteenBit = (from: string, to: string) => vips('colourspace', from, `${to}[compression=1]`, 'rgb16');
const rotated = async (from: string, to: string) => {
  await copyFile(from, to); // same pixels and bytes as the upright photo, only the tag differs
  await run('exiftool', ['-q', '-overwrite_original', '-n', '-Orientation=6', to]);
};

export async function fullCorpus(opts: { giga: boolean; hardCases: boolean; dir?: string }): Promise<BenchImage[]> {
  const dir = opts.dir ?? process.env.CORPUS_DIR ?? join(homedir(), '.cache', 'hugemap-corpus');
  const sizes = ['small', 'large', 'png', ...(opts.giga ? ['giga'] : [])].join(' ');
  await run('bash', [MAKE_CORPUS], { env: { ...process.env, CORPUS_DIR: dir, SIZES: sizes }, maxBuffer: 1 << 20 });
  const p = (name: string) => join(dir, name);
  const images: BenchImage[] = [
    await describe(p('photo-59mp.jpg'), 'jpeg', true),
    await describe(p('photo-236mp.jpg'), 'jpeg', true),
    ...(opts.giga ? [await describe(p('photo-944mp.jpg'), 'jpeg', true)] : []),
  ];
  if (!opts.hardCases) return images;
  const derived: Derived[] = [
    { name: 'photo-59mp-prog.jpg', from: 'photo-59mp.jpg', kind: 'progressive-jpeg', make: progressive },
    { name: 'photo-59mp-interlaced.png', from: 'photo-59mp.png', kind: 'interlaced-png', make: interlaced },
    { name: 'photo-59mp-rot6.jpg', from: 'photo-59mp.jpg', kind: 'exif-rotated', make: rotated },
    { name: 'photo-59mp-cmyk.jpg', from: 'photo-59mp.jpg', kind: 'cmyk-jpeg', make: cmyk },
    { name: 'photo-59mp-16bit.png', from: 'photo-59mp.png', kind: '16-bit-png', make: sixteenBit },
    { name: 'photo-236mp-prog.jpg', from: 'photo-236mp.jpg', kind: 'progressive-jpeg', make: progressive },
    { name: 'photo-236mp-interlaced.png', from: 'photo-236mp.jpg', kind: 'interlaced-png', make: interlaced },
    { name: 'photo-236mp-rot6.jpg', from: 'photo-236mp.jpg', kind: 'exif-rotated', make: rotated },
    { name: 'photo-236mp-cmyk.jpg', from: 'photo-236mp.jpg', kind: 'cmyk-jpeg', make: cmyk },
  ];
  for (const d of derived) {
    await ensure(p(d.name), (tmp) => d.make(p(d.from), tmp));
    images.push(await describe(p(d.name), d.kind, false));
  }
  return images;
}

/**
 * --quick: two small photos (and two hard cases) cut from the corpus photo when it is there,
 * otherwise a generated gradient with detail, so no download is needed.
 */
export async function quickCorpus(dir: string): Promise<BenchImage[]> {
  await mkdir(dir, { recursive: true });
  const photo = join(process.env.CORPUS_DIR ?? join(homedir(), '.cache', 'hugemap-corpus'), 'photo-59mp.jpg');
  const source = () =>
    existsSync(photo)
      ? sharp(photo).extract({ left: 2000, top: 1000, width: 2400, height: 1600 })
      : sharp(Buffer.from(generatedSvg(2400, 1600))).flatten({ background: '#000' });
  const small = join(dir, 'quick-1mp.jpg');
  const large = join(dir, 'quick-4mp.jpg');
  await ensure(small, (tmp) => source().resize(1200, 800).jpeg({ quality: 85 }).toFile(tmp).then(() => undefined));
  await ensure(large, (tmp) => source().jpeg({ quality: 85 }).toFile(tmp).then(() => undefined));
  const prog = join(dir, 'quick-4mp-prog.jpg');
  const png16 = join(dir, 'quick-1mp-16bit.png');
  await ensure(prog, (tmp) => progressive(large, tmp));
  await ensure(png16, (tmp) => sixteenBit(small, tmp));
  return [
    await describe(small, 'jpeg', true),
    await describe(large, 'jpeg', true),
    await describe(prog, 'progressive-jpeg', false),
    await describe(png16, '16-bit-png', false),
  ];
}

export async function ensure(path: string, make: (tmp: string) => Promise<void>): Promise<void> {
  if (existsSync(path)) return;
  const dot = path.lastIndexOf('.');
  const tmp = `${path.slice(0, dot)}.part${path.slice(dot)}`; // keeps the extension: vips picks the saver by it
  await make(tmp);
  await rename(tmp, path);
}

async function describe(path: string, kind: ImageKind, timed: boolean): Promise<BenchImage> {
  const meta = await sharp(path, { limitInputPixels: false }).metadata(); // the gigapixel photo is over sharp's default limit
  const rotatedSides = (meta.orientation ?? 1) >= 5;
  const width = rotatedSides ? meta.height : meta.width;
  const height = rotatedSides ? meta.width : meta.height;
  return {
    name: basename(path),
    path,
    kind,
    width,
    height,
    megapixels: Math.round((width * height) / 1e5) / 10,
    bytes: (await stat(path)).size,
    timed,
  };
}

/** A picture with smooth areas and edges (not noise, which no tiler compresses like a photo). */
function generatedSvg(w: number, h: number): string {
  const circles = Array.from({ length: 40 }, (_, i) => {
    const x = (i * 397) % w;
    const y = (i * 211) % h;
    return `<circle cx="${x}" cy="${y}" r="${60 + ((i * 37) % 200)}" fill="hsl(${(i * 47) % 360},60%,${35 + (i % 5) * 8}%)" opacity="0.7"/>`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1b3a5c"/><stop offset="1" stop-color="#e0b070"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>${circles}</svg>`;
}
