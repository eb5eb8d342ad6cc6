/** The benchmark's pure parts: parsing GNU time's report, medians and spread, run order, chart/report text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSecondsFromStat, parseTimeReport } from '../bench/measure.js';
import { rotation, spread } from '../bench/stats.js';
import { chartSvg } from '../bench/chart.js';
import { markdownReport } from '../bench/report.js';
import { summariseThroughput } from '../bench/throughput.js';
import type { ThroughputRun } from '../bench/service-path.js';
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
    {
      workers: 1,
      cores: 1,
      images: 4,
      imageName: 'a.jpg',
      seconds: 30,
      imagesPerMinute: 8,
      rounds: [{ seconds: 30, imagesPerMinute: 8, cpuSeconds: 27, workerCpuSeconds: 18, wakeups: 40 }],
      speedUp: null,
      cpuSecondsPerImage: { median: 6.75, min: 6.75, max: 6.75 },
      workerCpuSecondsPerImage: { median: 4.5, min: 4.5, max: 4.5 },
      wakeupsPerImage: { median: 10, min: 10, max: 10 },
      coresBusy: { median: 0.9, min: 0.9, max: 0.9 },
      workerRssMB: [200],
    },
    {
      workers: 2,
      cores: null,
      images: 4,
      imageName: 'a.jpg',
      seconds: 20,
      imagesPerMinute: 12,
      rounds: [{ seconds: 20, imagesPerMinute: 12 }, { seconds: 25, imagesPerMinute: 9.6 }, { seconds: 16, imagesPerMinute: 15 }],
      speedUp: { median: 1.5, min: 1.25, max: 1.62 },
      workerRssMB: [210, 220],
    },
  ],
};

test('markdownReport: median (min-max), ratio and escaped-free table cells', () => {
  const md = markdownReport(SAMPLE);
  assert.match(md, /\| vips <dzsave> \| 1\.00 \(0\.90-1\.20\) \| 2\.0 \| 1\.00x \| 1\.8 \(1\.7-2\.1\) \| 50 \| 40 \(38-41\) \| 2\.0 \|/);
  assert.match(md, /\| a\.jpg \| jpeg \| 2 \| 100 \(70\) \| 1\.0 \| - \| - \|/);
  assert.match(md, /\| b\.jpg \| jpeg \| 9 \| failed \(API gone\) \| - \| failed \(API gone\) \| - \|/);
  assert.match(md, /\| 1 \| 1 \| 4 x a\.jpg \| 1 \| 30\.0 \| 8\.0 \| - \| 6\.75 \(4\.50\) \| 90% \| 10 \| 200 \|/);
  // Results from before the CPU columns (and runs without taskset) show a dash there.
  assert.match(md, /\| 2 \| all \(no taskset\) \| 4 x a\.jpg \| 3 \| 20\.0 \(16\.0-25\.0\) \| 12\.0 \(9\.6-15\.0\) \| 1\.50x \(1\.25x-1\.62x\) \| - \| - \| - \| 210, 220 \|/);
  assert.match(md, /S3 on minio\)/, 'results without the S3 server are from MinIO stacks');
  const onVersitygw = markdownReport({ ...SAMPLE, throughput: SAMPLE.throughput.map((t) => ({ ...t, s3Server: 'versitygw' as const })) });
  assert.match(onVersitygw, /S3 on versitygw\)/);
});

test('chartSvg escapes labels and draws the 300 MB target line', () => {
  const svg = chartSvg(SAMPLE);
  assert.ok(svg.includes('vips &lt;dzsave&gt;'));
  assert.ok(!svg.includes('<dzsave>'));
  assert.match(svg, /target 300 MB/);
});

test('summariseThroughput: medians per worker count, speed-ups paired within each round', () => {
  const run = (workers: number, imagesPerMinute: number, rss: number[], cpuSeconds: number): ThroughputRun => ({
    workers,
    cores: workers,
    images: 4,
    seconds: 240 / imagesPerMinute,
    imagesPerMinute,
    cpuSeconds,
    workerCpuSeconds: cpuSeconds / 2,
    wakeups: workers === 1 ? 8 : 1000 * imagesPerMinute,
    workerRssMB: rss,
  });
  // The host slows down in round 2: its 1-worker run is slow, so pairing within rounds matters.
  const rounds = [
    [run(1, 10, [200], 20), run(2, 18, [210, 205], 24)],
    [run(2, 14, [230, 201], 28), run(1, 6, [190], 36)],
    [run(1, 9, [195], 24), run(2, 15, [209, 240], 30)],
  ];
  const [one, two] = summariseThroughput('a.jpg', rounds);
  assert.equal(one!.workers, 1);
  assert.equal(one!.imagesPerMinute, 9);
  assert.equal(one!.speedUp, null);
  assert.deepEqual(one!.rounds.map((r) => r.imagesPerMinute), [10, 6, 9]);
  assert.deepEqual(one!.workerRssMB, [200]);
  assert.equal(two!.workers, 2);
  assert.equal(two!.imagesPerMinute, 15);
  assert.equal(two!.seconds, 16);
  assert.equal(two!.imageName, 'a.jpg');
  // Per round 1.8, 2.33 and 1.67: the median is 1.8, where the medians' ratio would say 15 / 9 = 1.67.
  assert.deepEqual(two!.speedUp, { median: 1.8, min: 1.67, max: 2.33 });
  assert.deepEqual(two!.workerRssMB, [230, 240]);
  // CPU per image: 24, 28 and 30 CPU-s over 4 images; busy: 24 / (13.33 s x 2 cores) = 0.9, 28 / (17.14 x 2), 30 / (16 x 2).
  assert.deepEqual(two!.cpuSecondsPerImage, { median: 7, min: 6, max: 7.5 });
  assert.deepEqual(two!.coresBusy, { median: 0.9, min: 0.82, max: 0.94 });
  assert.deepEqual(one!.cpuSecondsPerImage, { median: 6, min: 5, max: 9 });
  assert.deepEqual(one!.coresBusy, { median: 0.9, min: 0.83, max: 0.9 });
  assert.deepEqual(two!.workerCpuSecondsPerImage, { median: 3.5, min: 3, max: 3.75 });
  // 18000, 14000 and 15000 wake-ups over 4 images; 8 for each 1-worker run.
  assert.deepEqual(two!.wakeupsPerImage, { median: 3750, min: 3500, max: 4500 });
  assert.deepEqual(one!.wakeupsPerImage, { median: 2, min: 2, max: 2 });
  const noProc = summariseThroughput('a.jpg', [[{ ...rounds[0]![0]!, wakeups: null }, rounds[0]![1]!]]);
  assert.equal(noProc[0]!.wakeupsPerImage, null, 'one run without /proc/interrupts: no figure rather than a wrong one');
});

test('reschedulingInterrupts sums the RES line over the CPUs, and is null without one', async () => {
  const { reschedulingInterrupts } = await import('../bench/measure.js');
  const text = [
    '           CPU0       CPU1       ',
    '  0:         33          0   IO-APIC    2-edge      timer',
    'LOC:    8043211    7941101   Local timer interrupts',
    'RES:    6774241    6391458   Rescheduling interrupts',
    'CAL:   24530038   23940275   Function call interrupts',
  ].join('\n');
  assert.equal(reschedulingInterrupts(text), 6774241 + 6391458);
  assert.equal(reschedulingInterrupts('LOC: 1 2 Local timer interrupts'), null);
  const live = reschedulingInterrupts();
  if (process.platform === 'linux') assert.ok(live === null || (Number.isSafeInteger(live) && live >= 0));
});

test('summariseThroughput refuses rounds without a 1-worker run or without every worker count', () => {
  const run = (workers: number): ThroughputRun => ({ workers, cores: workers, images: 2, seconds: 10, imagesPerMinute: 12, cpuSeconds: 9, workerCpuSeconds: 6, wakeups: 0, workerRssMB: Array(workers).fill(100) });
  assert.throws(() => summariseThroughput('a.jpg', []), RangeError);
  assert.throws(() => summariseThroughput('a.jpg', [[run(2)]]), /round 1 lacks a worker count/);
  assert.throws(() => summariseThroughput('a.jpg', [[run(1), run(2)], [run(1)]]), /round 2 lacks a worker count \(has 1\)/);
});

test('the bench refuses a throughput queue that is not a whole number of images from 2 (one per worker) to 64, before doing any work', async () => {
  const { main } = await import('../bench/run.js');
  for (const bad of ['1', '2.5', 'x', '65']) {
    await assert.rejects(main(['--queue', bad]), { message: `--queue must be an integer from 2 to 64, got ${bad}` });
  }
});

test('the bench refuses a throughput S3 server it cannot start, before doing any work', async () => {
  const { main } = await import('../bench/run.js');
  await assert.rejects(main(['--throughput-s3', 's3rver']), { message: '--throughput-s3 must be minio or versitygw, got s3rver' });
});
