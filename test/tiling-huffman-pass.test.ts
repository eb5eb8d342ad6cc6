/**
 * HuffmanPass and its one re-coding thread per process (shared/tiling/huffman-pass.ts): passes
 * share the thread, each gets its own rows back in order, re-coded; a failed or abandoned pass
 * leaves the thread serving the others; an idle thread keeps no process alive.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { HugemapError } from '../shared/errors.js';
import { HuffmanPass, recodingThreadId } from '../shared/tiling/huffman-pass.js';
import { optimiseHuffman } from '../shared/tiling/jpeg-huffman-optimise.js';
import type { TileRow, TileSink } from '../shared/tiling/tile-rows.js';
import { tempDir, type TempDir } from './helpers/fixtures.js';

let dir: TempDir;
/** Tiles as dzsave's direct mode writes them: libjpeg's standard Huffman tables, so the pass has work. */
const tiles: Buffer[] = [];

before(async () => {
  dir = await tempDir('hugemap-huffman-pass-');
  for (let i = 0; i < 3; i++) {
    const noise = { type: 'gaussian' as const, mean: 60 + 60 * i, sigma: 30 };
    tiles.push(await sharp({ create: { width: 256, height: 256, channels: 3, background: '#000', noise } }).jpeg({ quality: 85, optimiseCoding: false }).toBuffer());
  }
});

after(async () => {
  await dir.remove();
});

/** A sink that records the rows it is handed, in order. */
function recordingSink(): TileSink & { rows: TileRow[] } {
  const rows: TileRow[] = [];
  return { rows, row: (row) => void rows.push(row), drain: async () => undefined };
}

/** Writes row `row` of `pass` (one tile per column, contents cycling through `tiles`) and describes it. */
async function writeRow(pass: string, row: number, columns = 3): Promise<TileRow> {
  const files = [];
  for (let col = 0; col < columns; col++) {
    const rel = `image_files/9/${col}_${row}.jpeg`;
    const abs = join(dir.path, `${pass}-${col}_${row}.jpeg`);
    await writeFile(abs, tiles[(col + row) % tiles.length]!);
    files.push({ rel, abs });
  }
  return { level: 9, row, files };
}

/** A later job's pass: one row through a fresh pass, which must come back re-coded. */
async function assertNextPassRecodes(name: string): Promise<void> {
  const next = new HuffmanPass();
  const row = await writeRow(name, 0);
  next.row(row);
  await next.optimised();
  await next.close();
  await assertRecoded(row);
}

async function assertRecoded(row: TileRow): Promise<void> {
  for (const file of row.files) {
    const col = Number(/\/(\d+)_/.exec(file.rel)![1]);
    const expected = optimiseHuffman(tiles[(col + row.row) % tiles.length]!);
    assert.ok(expected, 'the fixture tile can be made smaller');
    assert.deepEqual(await readFile(file.abs), expected, `${file.abs} is the re-coded tile`);
  }
}

test('two passes at once share one thread; each gets its own rows, in order, re-coded on disk', async () => {
  const sinkA = recordingSink();
  const sinkB = recordingSink();
  const a = new HuffmanPass(sinkA);
  const b = new HuffmanPass(sinkB);
  const rowsA = [await writeRow('a', 0), await writeRow('a', 1), await writeRow('a', 2)];
  const rowsB = [await writeRow('b', 0), await writeRow('b', 1)];
  a.row(rowsA[0]!);
  b.row(rowsB[0]!);
  a.row(rowsA[1]!);
  const thread = recodingThreadId();
  assert.notEqual(thread, undefined);
  b.row(rowsB[1]!);
  a.row(rowsA[2]!);
  await Promise.all([a.optimised(), b.optimised()]);
  await Promise.all([a.close(), b.close()]);

  assert.deepEqual(sinkA.rows, rowsA);
  assert.deepEqual(sinkB.rows, rowsB);
  for (const row of [...rowsA, ...rowsB]) await assertRecoded(row);

  // The next job's pass is served by the same thread, kept warm.
  await assertNextPassRecodes('c');
  assert.equal(recodingThreadId(), thread);
});

test('a row that cannot be read fails its pass with a code; the thread serves the next pass', async () => {
  const sink = recordingSink();
  const broken = new HuffmanPass(sink);
  const good = await writeRow('broken', 0);
  const bad = await writeRow('broken', 1);
  await rm(bad.files[1]!.abs);
  broken.row(good);
  broken.row(bad);
  await assert.rejects(broken.optimised(), (err: unknown) => err instanceof HugemapError && /ENOENT|no such file/i.test(err.message));
  await broken.close();
  assert.deepEqual(sink.rows, [good], 'only the row that was re-coded went on');

  await assertNextPassRecodes('after-broken');
});

test('an abandoned pass fails, hands on nothing more, and does not disturb a pass started after it', async () => {
  const sink = recordingSink();
  const abandoned = new HuffmanPass(sink);
  const rows = [];
  for (let r = 0; r < 6; r++) rows.push(await writeRow('abandoned', r, 8));
  for (const row of rows) abandoned.row(row);
  await abandoned.close();
  await assert.rejects(abandoned.optimised(), /closed with rows left/);
  // Its job's folder goes, as a failed job's does: rows still queued are skipped, not read.
  for (const row of rows) for (const file of row.files) await rm(file.abs, { force: true });

  await assertNextPassRecodes('after-abandoned');
  assert.deepEqual(sink.rows, [], 'a closed pass hands no row on');
});

test('the shared thread keeps no process alive once its rows are done', () => {
  const script = `
    import sharp from 'sharp';
    import { writeFileSync } from 'node:fs';
    import { HuffmanPass } from './shared/tiling/huffman-pass.ts';
    const abs = ${JSON.stringify(join(dir.path, 'exit-check.jpeg'))};
    writeFileSync(abs, await sharp({ create: { width: 256, height: 256, channels: 3, background: '#456' } }).jpeg({ optimiseCoding: false }).toBuffer());
    const pass = new HuffmanPass();
    pass.row({ level: 0, row: 0, files: [{ rel: 'image_files/0/0_0.jpeg', abs }] });
    await pass.optimised();
    await pass.close();
    console.log('recoded');
  `;
  // A thread still referenced would keep this child running until the timeout kills it.
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, `the child exited on its own (stderr: ${child.stderr})`);
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /recoded/);
});
