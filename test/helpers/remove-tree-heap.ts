/**
 * Run as a child process by test/remove-tree.test.ts: fills a temporary folder with 10,000 small
 * files in 5 folders (a tile folder's shape), collects, removes it with removeTree (or, with the
 * argument `node`, with fs.rm's recursive mode) and prints how many MB V8's heap grew meanwhile.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree } from '../../shared/remove-tree.js';

const root = await mkdtemp(join(tmpdir(), 'hugemap-remove-tree-'));
for (let folder = 0; folder < 5; folder++) {
  await mkdir(join(root, String(folder)));
  for (let i = 0; i < 2000; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(join(root, String(folder), `${i + j}_0.jpeg`), 'x')));
  }
}
globalThis.gc?.();
const before = process.memoryUsage().heapTotal;
if (process.argv[2] === 'node') await rm(root, { recursive: true, force: true });
else await removeTree(root);
process.stdout.write(`${((process.memoryUsage().heapTotal - before) / 1e6).toFixed(1)}\n`);
