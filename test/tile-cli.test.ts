/** `hugemap tile` as a user runs it: a subprocess, exit codes, one line per error, nothing half-done. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { gradient, pngBomb, tempDir, truncatedCopy } from './helpers/fixtures.js';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const tmp = await tempDir();
after(() => tmp.remove());

interface Run { code: number | null; stdout: string; stderr: string }

function hugemap(...args: string[]): Promise<Run> {
  return new Promise((done, fail) => {
    // stdio pipes, so stderr is not a TTY: the CLI must stay quiet apart from its one summary line.
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

test('tiles an image: summary on stdout, nothing on stderr', async () => {
  const out = tmp.file('out-ok');
  const run = await hugemap(photo, '--out', out, '--quality', '70');
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^700x300 jpeg q70 \(direct\): 11 levels, 17 tiles, \d+ bytes in \d+\.\d s -> .*out-ok\n$/);
  assert.match(await readFile(join(out, 'image.dzi'), 'utf8'), /Format="jpeg"/);
  assert.equal(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).quality, 70);
});

test('--format webp writes webp tiles', async () => {
  const out = tmp.file('out-webp');
  const run = await hugemap(photo, '--out', out, '--format', 'webp');
  assert.equal(run.code, 0, run.stderr);
  assert.match(await readFile(join(out, 'image.dzi'), 'utf8'), /Format="webp"/);
  assert.equal((await sharp(join(out, 'image_files', '10', '0_0.webp')).metadata()).format, 'webp');
});

test('the JPEG encoder: direct by default, sharp on request; the summary names it, and a truncated JPEG fails with one line either way', async () => {
  const out = tmp.file('out-direct');
  const run = await hugemap(photo, '--out', out);
  assert.equal(run.stderr, '');
  assert.equal(run.code, 0);
  assert.match(run.stdout, /^700x300 jpeg q85 \(direct\): 11 levels, 17 tiles, /);
  assert.equal(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')).jpegEncoder, 'direct');
  const viaSharp = await hugemap(photo, '--out', tmp.file('out-sharp'), '--jpeg-encoder', 'sharp');
  assert.equal(viaSharp.code, 0, viaSharp.stderr);
  assert.match(viaSharp.stdout, /^700x300 jpeg q85 \(sharp\): 11 levels, 17 tiles, /);
  const cutSharp = await hugemap(await truncatedCopy(photo, tmp.file('cut-sharp.jpg'), 0.4), '--out', tmp.file('out-cut-sharp'), '--jpeg-encoder', 'sharp');
  assert.equal(cutSharp.code, 1);
  assert.match(cutSharp.stderr, /^hugemap: HUGEMAP_ERR_CORRUPT_IMAGE: [^\n]*\n$/);
  const cut = await hugemap(await truncatedCopy(photo, tmp.file('cut-direct.jpg'), 0.4), '--out', tmp.file('out-cut-direct'), '--jpeg-encoder', 'direct');
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
  test(`${name}: exit ${exitCode}, one stderr line, no image.dzi`, async () => {
    const out = tmp.file(`out-${name.replace(/\W+/g, '-')}`);
    const run = await hugemap(...(await makeArgs()), '--out', out);
    assert.equal(run.code, exitCode);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr.split('\n').length, 2, `exactly one line: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, line);
    assert.doesNotMatch(run.stderr, /\bat .*:\d+:\d+/, 'no stack trace');
    const left = await readdir(out).catch(() => []);
    assert.ok(!left.includes('image.dzi'), `no descriptor: ${left.join(', ')}`);
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
