/**
 * The one-shot contenders: each is one command that reads the image and writes a tile
 * folder, timed from spawn to exit. Same geometry for all (256 px tiles, no overlap) and
 * JPEG quality 85 where the tool writes JPEG; gdal2tiles writes PNG (GDAL 3.6 has no JPEG
 * tile driver), so its bytes are not comparable, only its time and memory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('..', import.meta.url));
export const HUGEMAP_CLI = join(REPO_DIR, 'dist', 'cli', 'hugemap.js');

export interface OneShot {
  id: string;
  label: string;
  /** argv for IN and an empty OUT folder. */
  command: (input: string, out: string) => { command: string; args: string[]; env?: NodeJS.ProcessEnv };
}

export const VIPS: OneShot = {
  id: 'vips-dzsave',
  label: 'vips dzsave (Debian CLI)',
  command: (input, out) => ({
    command: 'vips',
    args: ['dzsave', input, join(out, 'image'), '--tile-size', '256', '--overlap', '0', '--depth', 'onepixel', '--suffix', '.jpeg[Q=85]'],
  }),
};

export const SHARP: OneShot = {
  id: 'sharp-tile',
  label: 'sharp .tile()',
  command: (input, out) => ({ command: process.execPath, args: [join(REPO_DIR, 'bench', 'sharp-tile.mjs'), input, out] }),
};

export const GDAL: OneShot = {
  id: 'gdal2tiles',
  label: 'gdal2tiles -p raster (PNG tiles)',
  command: (input, out) => ({
    command: gdal2tilesBinary() ?? 'gdal2tiles.py',
    args: ['-p', 'raster', '-w', 'none', '-q', '--processes=2', input, out],
  }),
};

export const HUGEMAP_TILE: OneShot = {
  id: 'hugemap-tile',
  label: 'hugemap tile',
  // As a user runs it: the built CLI, its defaults (2 libvips threads), no allocator tricks;
  // --quiet, as stderr is a pipe here: the tiler alone is timed, not its progress lines.
  command: (input, out) => ({ command: process.execPath, args: [HUGEMAP_CLI, 'tile', input, '--out', out, '--quiet'] }),
};

/** The same through sharp's tile() encoder (the default before direct mode + Huffman pass): slower, same pixels, about the same bytes. */
export const HUGEMAP_TILE_SHARP: OneShot = {
  id: 'hugemap-tile-sharp',
  label: 'hugemap tile --jpeg-encoder sharp',
  command: (input, out) => ({ command: process.execPath, args: [HUGEMAP_CLI, 'tile', input, '--out', out, '--jpeg-encoder', 'sharp', '--quiet'] }),
};

/** Debian names it gdal2tiles.py (gdal-bin); newer GDAL also installs gdal2tiles. */
export function gdal2tilesBinary(): string | undefined {
  for (const name of ['gdal2tiles.py', 'gdal2tiles']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

export function hasVips(): boolean {
  try {
    execFileSync('vips', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function assertBuiltCli(): void {
  if (!existsSync(HUGEMAP_CLI)) throw new Error(`${HUGEMAP_CLI} not found: run \`npm run build\` first`);
}

export function toolVersions(): Record<string, string> {
  const v = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0] ?? '';
    } catch {
      return 'missing';
    }
  };
  return { vipsCli: v('vips', ['--version']), gdal: v('gdalinfo', ['--version']), time: TIME_BIN_VERSION() };
}

function TIME_BIN_VERSION(): string {
  try {
    return execFileSync('/usr/bin/time', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] ?? '';
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? 'missing').trim().split('\n')[0] ?? 'missing';
  }
}
