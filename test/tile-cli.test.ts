/**
 * `hugemap tile` as a user runs it: a subprocess, exit codes, one line per
 * error, nothing half-done, no folder left behind by a failed run; progress
 * lines when stderr is not a terminal, --quiet, --json and several inputs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { gradient, pngBomb, tempDir, truncatedCopy } from './helpers/fixtures.js';
import { STARTED_WITH_SETTINGS, wantsRerun } from '../cli/tile-process-settings.js';
import { JEMALLOC_PATH, WORKER_MALLOC_CONF, WORKER_NODE_OPTIONS } from '../workers/process-settings.js';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const tmp = await tempDir();
after(() => tmp.remove());

interface Run { code: number | null; stdout: string; stderr: string }

function hugemap(...args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    // stdio pipes, so stderr is not a TTY: plain progress lines unless --quiet.
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'tile', ...args], { cwd: repo });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const photo = tmp.file('photo.jpg');
await gradient(700, 300).jpeg({ quality: 90 }).toFile(photo);

test('tiles an image: summary on stdout with a human size, nothing on stderr with --quiet', async () => {
  const out = tmp.file('out-ok');
  const run = await hugemap(photo, '--out', out, '--quality', '70', '--quiet');
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  const bytes = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).bytes as number;
  assert.ok(bytes >= 1000 && bytes < 1_000_000, `tile bytes ${bytes}`);
  const kB = (bytes / 1000).toFixed(bytes < 10_000 ? 2 : bytes < 100_000 ? 1 : 0);
  assert.match(run.stdout, new RegExp(`^700x300 jpeg q70 \\(direct\\): 11 levels, 17 tiles, ${kB.replace('.', '\\.')} kB in \\d+\\.\\d s -> .*out-ok\n$`));
  assert.match(await readFile(join(out, 'image.dzi'), 'utf8'), /Format="jpeg"/);
  assert.equal(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).quality, 70);
});

test('--format webp writes webp tiles', async () => {
  const out = tmp.file('out-webp');
  const run = await hugemap(photo, '--out', out, '--format', 'webp', '--quiet');
  assert.equal(run.code, 0, run.stderr);
  assert.match(await readFile(join(out, 'image.dzi'), 'utf8'), /Format="webp"/);
  assert.equal((await sharp(join(out, 'image_files', '10', '0_0.webp')).metadata()).format, 'webp');
});

test('the JPEG encoder: direct by default, sharp on request; the summary names it, and a truncated JPEG fails with one line either way', async () => {
  const out = tmp.file('out-direct');
  const run = await hugemap(photo, '--out', out, '--quiet');
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^700x300 jpeg q85 \(direct\): 11 levels, 17 tiles, /);
  assert.equal(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).jpegEncoder, 'direct');
  const viaSharp = await hugemap(photo, '--out', tmp.file('out-sharp'), '--jpeg-encoder', 'sharp', '--quiet');
  assert.equal(viaSharp.code, 0, viaSharp.stderr);
  assert.match(viaSharp.stdout, /^700x300 jpeg q85 \(sharp\): 11 levels, 17 tiles, /);
  const cutSharp = await hugemap(await truncatedCopy(photo, tmp.file('cut-sharp.jpg'), 0.4), '--out', tmp.file('out-cut-sharp'), '--jpeg-encoder', 'sharp', '--quiet');
  assert.equal(cutSharp.code, 1);
  assert.match(cutSharp.stderr, /^hugemap: HUGEMAP_ERR_CORRUPT_IMAGE: [^\n]*\n$/);
  const cut = await hugemap(await truncatedCopy(photo, tmp.file('cut-direct.jpg'), 0.4), '--out', tmp.file('out-cut-direct'), '--jpeg-encoder', 'direct', '--quiet');
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, /^hugemap: HUGEMAP_ERR_CORRUPT_IMAGE: [^\n]*\n$/);
});

const failures: Array<[string, () => Promise<string[]>, number, RegExp]> = [
  ['not an image', async () => { await writeFile(tmp.file('x.jpg'), 'plain text'); return [tmp.file('x.jpg')]; }, 1, /^hugemap: HUGEMAP_ERR_NOT_AN_IMAGE: /],
  ['truncated JPEG', async () => [await truncatedCopy(photo, tmp.file('cut.jpg'), 0.4)], 1, /^hugemap: HUGEMAP_ERR_CORRUPT_IMAGE: /],
  ['decompression bomb', async () => [await pngBomb(tmp.file('bomb.png'), 200_000, 100_000)], 1, /^hugemap: HUGEMAP_ERR_TOO_MANY_PIXELS: image is 200000x100000/],
  ['missing input', async () => [tmp.file('missing.jpg')], 1, /^hugemap: HUGEMAP_ERR_INPUT_NOT_FOUND: /],
  ['--max-pixels below the image', async () => [photo, '--max-pixels', '1000'], 1, /^hugemap: HUGEMAP_ERR_TOO_MANY_PIXELS: /],
  ['--quality 0', async () => [photo, '--quality', '0'], 2, /^hugemap: HUGEMAP_ERR_USAGE: .*quality must be an integer from 1 to 100/],
  ['unknown --format', async () => [photo, '--format', 'gif'], 2, /^hugemap: HUGEMAP_ERR_USAGE: .*'gif' is invalid. Allowed choices are jpeg, png, webp/],
  ['unknown --jpeg-encoder', async () => [photo, '--jpeg-encoder', 'fast'], 2, /^hugemap: HUGEMAP_ERR_USAGE: .*'fast' is invalid. Allowed choices are direct, sharp/],
];

for (const [name, makeArgs, exitCode, line] of failures) {
  test(`${name}: exit ${exitCode}, one stderr line, no output folder`, async () => {
    const out = tmp.file(`out-${name.replace(/\W+/g, '-')}`);
    const run = await hugemap(...(await makeArgs()), '--out', out, '--quiet');
    assert.equal(run.code, exitCode);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr.split('\n').length, 2, `exactly one line: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, line);
    assert.doesNotMatch(run.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
    assert.equal(existsSync(out), false, `${out} was created by the failed run and left behind`);
  });
}

test('missing --out is a usage error', async () => {
  const run = await hugemap(photo);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^hugemap: HUGEMAP_ERR_USAGE: required option '--out <dir>' not specified\n$/);
});

test('--help shows the 10 gigapixel default of --max-pixels on its own line', async () => {
  const run = await hugemap('--help');
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /--max-pixels <n> +pixel limit of an input \(default: 10000000000\)\n/);
});

test('not-an-image.jpg --out x: exit 1 and no x afterwards, nor the folders above it that the run made', async () => {
  const input = tmp.file('not-an-image.jpg');
  await writeFile(input, 'this is text, not a JPEG');
  const x = tmp.file('x');
  const run = await hugemap(input, '--out', x);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^hugemap: HUGEMAP_ERR_NOT_AN_IMAGE: /);
  assert.equal(existsSync(x), false);

  const nested = await hugemap(input, '--out', join(tmp.file('made'), 'by', 'run'));
  assert.equal(nested.code, 1);
  assert.equal(existsSync(tmp.file('made')), false, 'made/by/run: every folder the run created is gone');
});

test('a failed run keeps a folder that existed before, with what was in it', async () => {
  const kept = tmp.file('existing-out');
  await mkdir(kept);
  await writeFile(join(kept, 'notes.txt'), 'mine');
  const cut = await truncatedCopy(photo, tmp.file('cut-keep.jpg'), 0.4);
  const run = await hugemap(cut, '--out', kept, '--quiet');
  assert.equal(run.code, 1);
  assert.deepEqual(await readdir(kept), ['notes.txt']);
  assert.equal(await readFile(join(kept, 'notes.txt'), 'utf8'), 'mine');

  // A symlink that points nowhere existed before too: it is not the run's to remove.
  const dangling = tmp.file('dangling-out');
  await symlink(tmp.file('nowhere'), dangling);
  const intoLink = await hugemap(cut, '--out', dangling, '--quiet');
  assert.equal(intoLink.code, 1);
  assert.equal((await lstat(dangling)).isSymbolicLink(), true);
});

/** `hugemap: 42% ...` lines, in order. */
function percentages(stderr: string): number[] {
  return [...stderr.matchAll(/^hugemap: (\d+)% /gm)].map((m) => Number(m[1]));
}

test('stderr not a terminal: plain progress lines with climbing percentages, ending at 100%; --quiet silences them', async () => {
  // Big enough that the cut spans several of the (test-shortened) progress intervals.
  const big = tmp.file('big.jpg');
  await gradient(6000, 4000).jpeg({ quality: 80 }).toFile(big);
  const run = await hugemap(big, '--out', tmp.file('out-big'), '--progress-interval', '50');
  assert.equal(run.code, 0, run.stderr);
  const seen = percentages(run.stderr);
  assert.ok(new Set(seen).size >= 2, `at least two different percentages: ${seen.join(' ')}`);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `never going back: ${seen.join(' ')}`);
  assert.equal(seen.at(-1), 100);
  assert.equal(seen.filter((p) => p === 100).length, 1, 'one 100% line, at the end');
  for (const line of run.stderr.trimEnd().split('\n')) {
    assert.match(line, /^hugemap: \d+% (probe|prepare|tile|thumbnail|finish|done) [\d,]+\/[\d,]+ tiles, \d+\/\d+ levels, (-- |[\d.]+ )MP\/s, (ETA (--|\d+[smh][\dsm]*)|took \d+[smh][\dsm]*) \(big\.jpg\)$/);
    assert.doesNotMatch(line, /NaN|Inf|NULL|undefined/i);
  }
  assert.match(run.stderr, /^hugemap: 100% done 521\/521 tiles, 14\/14 levels, /m);

  const quiet = await hugemap(big, '--out', tmp.file('out-big-quiet'), '--progress-interval', '50', '--quiet');
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, '');
});

test('--json: one document on stdout naming the files, sizes, tiles and timings', async () => {
  const out = tmp.file('out-json');
  const run = await hugemap(photo, '--out', out, '--json', '--quiet');
  assert.equal(run.code, 0, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.equal(doc.ok, true);
  assert.ok(doc.seconds > 0);
  assert.equal(doc.images.length, 1);
  const [image] = doc.images;
  assert.equal(image.ok, true);
  assert.equal(image.input, photo);
  assert.equal(image.out, out);
  assert.deepEqual(image.files, {
    dzi: join(out, 'image.dzi'),
    tiles: join(out, 'image_files'),
    thumbnail: join(out, 'thumbnail.jpg'),
    manifest: join(out, 'manifest.json'),
  });
  assert.equal(image.tiles, 17);
  assert.equal(image.levels, 11);
  assert.equal(image.width, 700);
  assert.equal(image.height, 300);
  const manifest = JSON.parse(await readFile(image.files.manifest, 'utf8'));
  assert.equal(image.bytes, manifest.bytes);
  let files = 0;
  for (const level of await readdir(image.files.tiles)) files += (await readdir(join(image.files.tiles, level))).length;
  assert.equal(files, image.tiles);
  assert.match(await readFile(image.files.dzi, 'utf8'), /Width="700"/);
  assert.ok(image.seconds > 0 && image.seconds <= doc.seconds);
  assert.ok(image.stageSeconds.tile >= 0 && image.stageSeconds.probe >= 0, JSON.stringify(image.stageSeconds));

  const failed = await hugemap(tmp.file('missing-for-json.jpg'), '--out', tmp.file('out-json-failed'), '--json');
  assert.equal(failed.code, 1);
  const failedDoc = JSON.parse(failed.stdout);
  assert.equal(failedDoc.ok, false);
  assert.equal(failedDoc.images[0].ok, false);
  assert.equal(failedDoc.images[0].error.code, 'HUGEMAP_ERR_INPUT_NOT_FOUND');
});

test('several inputs: each map in --out/<name>/, one summary line each; a failed one leaves no folder and exit 1', async () => {
  const png = tmp.file('plan.png');
  await gradient(300, 500).png().toFile(png);
  const maps = tmp.file('maps');
  const run = await hugemap(photo, png, '--out', maps, '--quiet');
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^700x300 jpeg .* -> .*maps\/photo$/);
  assert.match(lines[1]!, /^300x500 jpeg .* -> .*maps\/plan$/);
  assert.match(await readFile(join(maps, 'photo', 'image.dzi'), 'utf8'), /Width="700"/);
  assert.match(await readFile(join(maps, 'plan', 'image.dzi'), 'utf8'), /Height="500"/);

  const broken = tmp.file('broken.jpg');
  await writeFile(broken, 'not an image');
  const mixed = await hugemap(broken, photo, '--out', tmp.file('maps-mixed'), '--json', '--quiet');
  assert.equal(mixed.code, 1);
  assert.match(mixed.stderr, /^hugemap: HUGEMAP_ERR_NOT_AN_IMAGE: .*broken\.jpg/);
  const doc = JSON.parse(mixed.stdout);
  assert.deepEqual(doc.images.map((i: { ok: boolean }) => i.ok), [false, true]);
  assert.deepEqual(await readdir(tmp.file('maps-mixed')), ['photo']);

  const allBad = await hugemap(broken, tmp.file('missing.png'), '--out', tmp.file('maps-none'), '--quiet');
  assert.equal(allBad.code, 1);
  assert.equal(allBad.stderr.trimEnd().split('\n').length, 2, allBad.stderr);
  assert.equal(existsSync(tmp.file('maps-none')), false, 'nothing succeeded: the parent folder the run made is gone too');
});

test('several inputs with the same name are a usage error, before anything is written', async () => {
  await mkdir(tmp.file('other'), { recursive: true });
  const twin = join(tmp.file('other'), 'photo.png');
  await gradient(50, 50).png().toFile(twin);
  const run = await hugemap(photo, twin, '--out', tmp.file('maps-twins'));
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^hugemap: HUGEMAP_ERR_USAGE: .*photo\.jpg and .*photo\.png would both go to .*maps-twins\/photo/);
  assert.equal(existsSync(tmp.file('maps-twins')), false);
});

test('hugemap tile reruns itself with the worker\'s process settings unless it has them, or is that rerun', () => {
  const all = { LD_PRELOAD: JEMALLOC_PATH, MALLOC_CONF: WORKER_MALLOC_CONF, NODE_OPTIONS: WORKER_NODE_OPTIONS.join(' ') };
  assert.equal(wantsRerun({}, []), true, 'nothing given');
  assert.equal(wantsRerun(all, []), false, 'everything given');
  assert.equal(wantsRerun({ ...all, NODE_OPTIONS: '--expose-gc' }, []), true, 'the young generation\'s size missing');
  assert.equal(wantsRerun({ ...all, NODE_OPTIONS: '--expose-gc' }, ['--max-semi-space-size=8']), false, 'a flag on the command line counts, whatever its value');
  assert.equal(wantsRerun({ [STARTED_WITH_SETTINGS]: '1' }, []), false, 'the rerun itself, even without jemalloc on the machine');
});

test('SIGTERM while a JPEG is being cut: passed on to the rerun, exit 130 with one line, no folder left', { timeout: 120_000 }, async () => {
  // Large enough that the cut is still running when its first tile folder appears.
  const big = tmp.file('big-for-signal.jpg');
  await gradient(10_000, 8_000).jpeg({ quality: 90 }).toFile(big);
  const out = tmp.file('out-interrupted');
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', 'tile', big, '--out', out], { cwd: repo });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const closed = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  const cutting = async () => existsSync(out) && (await readdir(out)).some((name) => existsSync(join(out, name, 'image_files')));
  while (!(await cutting())) await new Promise((r) => setTimeout(r, 10));
  // To the process started here (the rerun with the process settings is its child): it passes SIGTERM on.
  child.kill('SIGTERM');
  assert.equal(await closed, 130, stderr);
  assert.match(stderr, /^hugemap: HUGEMAP_ERR_INTERRUPTED: .*SIGTERM.*$/m);
  assert.equal(existsSync(out), false, 'the folder this run created is removed');
});
