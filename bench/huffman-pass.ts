/**
 * `node --import tsx bench/huffman-pass.ts [SOURCE] [ROUNDS]`: what the lossless Huffman pass of the
 * direct encoder costs and saves, alone. Cuts SOURCE (default: the 236 MP corpus photo) with dzsave's
 * direct mode (shared/tiling/dzsave-direct.ts) into a temp folder, reads every tile into memory,
 * then runs optimiseHuffman over all of them ROUNDS times (default 3) on this thread, reporting
 * CPU seconds per round (process.cpuUsage: no file I/O inside the timed part) and bytes before and
 * after. Prints one line per round and a summary; writes nothing else.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dzsaveDirect } from '../shared/tiling/dzsave-direct.js';
import { optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';

const source = process.argv[2] ?? join(homedir(), '.cache/hugemap-corpus/photo-236mp.jpg');
const rounds = Number(process.argv[3] ?? 3);

const dir = await mkdtemp(join(tmpdir(), 'hugemap-huffman-bench-'));
try {
  await dzsaveDirect({ path: source, format: 'jpeg' }, join(dir, 'image'), 85);
  const tiles: Buffer[] = [];
  const levels = join(dir, 'image_files');
  for (const level of (await readdir(levels)).filter((name) => /^\d+$/.test(name))) {
    for (const name of await readdir(join(levels, level))) if (name.endsWith('.jpeg')) tiles.push(await readFile(join(levels, level, name)));
  }
  const before = tiles.reduce((n, t) => n + t.length, 0);
  const cpu: number[] = [];
  let after = 0;
  let unchanged = 0;
  for (let r = 0; r < rounds; r++) {
    after = unchanged = 0;
    const start = process.cpuUsage();
    for (const tile of tiles) {
      const out = optimiseHuffman(tile);
      if (!out) unchanged++;
      after += (out ?? tile).length;
    }
    const used = process.cpuUsage(start);
    cpu.push((used.user + used.system) / 1e6);
    console.log(`round ${r + 1}: ${cpu.at(-1)!.toFixed(2)} CPU-s`);
  }
  const sorted = [...cpu].sort((a, b) => a - b);
  console.log(
    `${source}: ${tiles.length} tiles, ${before} -> ${after} bytes (${(100 * (1 - after / before)).toFixed(1)}% smaller, ${unchanged} unchanged); ` +
      `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} CPU-s a pass (${(1e6 * sorted[Math.floor(sorted.length / 2)]! / tiles.length).toFixed(0)} us a tile)`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
