/** The benchmark's pure parts: parsing GNU time's report, medians and spread, run order, chart/report text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSecondsFromStat, parseTimeReport } from '../bench/measure.js';
import { rotation, spread } from '../bench/stats.js';
import { chartSvg } from '../bench/chart.js';
import { markdownReport } from '../bench/report.js';
import type { BenchResults } from '../bench/results.js';

const TIME_REPORT = `\tCommand being timed: "vips dzsave a b"
\tUser time (seconds): 10.50
\tSystem time (seconds): 1.25
\tElapsed (wall clock) time (h:mm:ss or m:ss): 0:07.12
\tMaximum resident set size (kbytes): 204800
\tExit status: 0
`;

test('parseTimeReport reads peak RSS (MB), user + system CPU seconds and exit status; a killed process reads as 128+signal', () => {
  assert.deepEqual(parseTimeReport(TIME_REPORT), { peakRssMB: 209.7, cpuS: 11.75, exitCode: 0 });
  // What GNU time really writes for a killed process: the signal first, and still "Exit status: 0".
  const killed = `Command terminated by signal 9\n${TIME_REPORT}`;
  assert.deepEqual(parseTimeReport(killed), { peakRssMB: 209.7, cpuS: 11.75, exitCode: 137 });
  assert.throws(() => parseTimeReport('nothing'), /Maximum resident set size/);
});

test('cpuSecondsFromStat: utime + stime in seconds, whatever the command name holds', () => {
  const after = 'S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1';
  assert.equal(cpuSecondsFromStat(`4242 (node) ${after}`), 3.25);
  assert.equal(cpuSecondsFromStat(`4242 (a) b (c) ${after}`), 3.25);
});

test('spread: median of odd and even counts, min and max', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  assert.throws(() => spread([]), RangeError);
});

test('rotation: each run starts with a different contender and keeps them all', () => {
  const c = ['a', 'b', 'c'];
  assert.deepEqual(rotation(c, 0), ['a', 'b', 'c']);
  assert.deepEqual(rotation(c, 1), ['b', 'c', 'a']);
  assert.deepEqual(rotation(c, 4), ['b', 'c', 'a']);
});

const SAMPLE: BenchResults = {
  meta: {
    startedAt: 's', finishedAt: 'f', command: 'npm run bench', quick: false, runs: 3,
    machine: { cpus: 2, cpuModel: 'cpu', memoryGB: 24, loadAvgAtStart: [0.1, 0.2, 0.3] },
    versions: { node: 'v20' }, workerAllocator: 'glibc', firstViewDefinition: 'def', skipped: [],
  },
  images: [{ name: 'a.jpg', kind: 'jpeg', width: 2000, height: 1000, megapixels: 2, bytes: 1e6 }],
  results: [
    { image: 'a.jpg', megapixels: 2, contender: 'vips-dzsave', label: 'vips <dzsave>', runs: [], wallS: { median: 1, min: 0.9, max: 1.2 }, mpPerS: 2, peakRssMB: { median: 50, min: 50, max: 50 }, cpuS: { median: 1.8, min: 1.7, max: 2.1 }, peakAnonMB: { median: 40, min: 38, max: 41 }, outputBytes: 2e6, ratioToVips: 1 },
  ],
  memoryCurve: [
    { image: 'a.jpg', kind: 'jpeg', megapixels: 2, hugemapTile: { peakRssMB: 100, peakAnonMB: 70, wallS: 1 }, worker: null },
    { image: 'b.jpg', kind: 'jpeg', megapixels: 9, hugemapTile: null, worker: null, failed: 'API gone' },
  ],
  throughput: [
    { workers: 1, cores: 1, images: 4, imageName: 'a.jpg', seconds: 30, imagesPerMinute: 8, workerRssMB: [200] },
    { workers: 2, cores: null, images: 4, imageName: 'a.jpg', seconds: 20, imagesPerMinute: 12, workerRssMB: [210, 220] },
  ],
};

test('markdownReport: median (min-max), ratio and escaped-free table cells', () => {
  const md = markdownReport(SAMPLE);
  assert.match(md, /\| vips <dzsave> \| 1\.00 \(0\.90-1\.20\) \| 2\.0 \| 1\.00x \| 1\.8 \(1\.7-2\.1\) \| 50 \| 40 \(38-41\) \| 2\.0 \|/);
  assert.match(md, /\| a\.jpg \| jpeg \| 2 \| 100 \(70\) \| 1\.0 \| - \| - \|/);
  assert.match(md, /\| b\.jpg \| jpeg \| 9 \| failed \(API gone\) \| - \| failed \(API gone\) \| - \|/);
  assert.match(md, /\| 1 \| 1 \| 4 x a\.jpg \| 30\.0 \| 8\.0 \| 200 \|/);
  assert.match(md, /\| 2 \| all \(no taskset\) \| 4 x a\.jpg \| 20\.0 \| 12\.0 \| 210, 220 \|/);
});

test('chartSvg escapes labels and draws the 300 MB target line', () => {
  const svg = chartSvg(SAMPLE);
  assert.ok(svg.includes('vips &lt;dzsave&gt;'));
  assert.ok(!svg.includes('<dzsave>'));
  assert.match(svg, /target 300 MB/);
});
