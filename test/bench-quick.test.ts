/**
 * `npm run bench -- --quick` end to end: every contender runs once on tiny images (the service
 * path against the test servers), and the JSON, Markdown and PNG it writes are well-formed and
 * agree with each other. No timing assertions: only that each figure was measured.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { canPin } from '../bench/cpu-pinning.js';
import { main } from '../bench/run.js';
import type { BenchResults } from '../bench/results.js';

describe('bench --quick', () => {
  let out: string;
  let returned: BenchResults;
  let json: BenchResults;
  let markdown: string;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'bench-quick-'));
    returned = await main(['--quick', '--out', out]);
    json = JSON.parse(await readFile(join(out, 'quick.json'), 'utf8')) as BenchResults;
    markdown = await readFile(join(out, 'quick.md'), 'utf8');
  });
  after(() => rm(out, { recursive: true, force: true }));

  test('the JSON on disk is what main() returned, for the quick images', () => {
    assert.deepEqual(json, returned);
    assert.equal(json.meta.quick, true);
    assert.equal(json.meta.runs, 1);
    assert.deepEqual(json.images.map((i) => i.name), ['quick-1mp.jpg', 'quick-4mp.jpg', 'quick-4mp-prog.jpg', 'quick-1mp-16bit.png']);
  });

  test('every contender ran once on every timed image, with measured figures', () => {
    const expected = ['vips-dzsave', 'sharp-tile', 'gdal2tiles', 'hugemap-tile', 'hugemap-tile-sharp', 'service-path', 'service-path-versitygw', 'dzsave-rclone'];
    for (const image of ['quick-1mp.jpg', 'quick-4mp.jpg']) {
      const rows = json.results.filter((r) => r.image === image);
      assert.deepEqual(rows.map((r) => r.contender), expected, `contenders on ${image} (skipped: ${json.meta.skipped.join('; ')})`);
      for (const r of rows) {
        assert.equal(r.runs.length, 1);
        assert.ok(r.wallS.median > 0 && r.wallS.min <= r.wallS.median && r.wallS.median <= r.wallS.max, `${r.contender} wall`);
        assert.ok(r.peakRssMB.median > 10, `${r.contender} peak RSS ${r.peakRssMB.median} MB`);
        assert.ok(r.outputBytes > 1000, `${r.contender} output ${r.outputBytes} bytes`);
        assert.ok(r.cpuS!.median > 0, `${r.contender} CPU ${r.cpuS?.median} s`);
        assert.equal(r.mpPerS, Math.round((r.megapixels / r.wallS.median) * 10) / 10);
      }
      assert.equal(rows.find((r) => r.contender === 'vips-dzsave')!.ratioToVips, 1);
      const service = rows.find((r) => r.contender === 'service-path')!;
      // Each figure measured; how they compare is the report's (bench/results), not a test's: timings move on a shared machine.
      assert.ok(service.firstViewS!.median > 0, `first view ${service.firstViewS?.median} s`);
      // A JPEG gets a preview, stored before any tile: seen no later than the first-view tiles.
      assert.ok(service.previewS!.median > 0 && service.previewS!.median <= service.firstViewS!.median, `preview ${service.previewS?.median} s, first view ${service.firstViewS!.median} s`);
      assert.ok(service.workerRssMB!.median > 10 && service.apiRssMB!.median > 10);
      assert.equal(service.peakRssMB.median, Math.max(service.workerRssMB!.median, service.apiRssMB!.median));
      // The same service on versitygw stored the same tiles: the same bytes but for the ids in the descriptor.
      const onVersitygw = rows.find((r) => r.contender === 'service-path-versitygw')!;
      assert.ok(Math.abs(onVersitygw.outputBytes - service.outputBytes) < 200, `${onVersitygw.outputBytes} against ${service.outputBytes} bytes`);
      assert.ok(onVersitygw.acceptedToDoneS!.median > 0, `accepted to done ${onVersitygw.acceptedToDoneS?.median} s`);
      // The shell-script baseline: dzsave's tiles (same bytes as the vips row), all stored by rclone (else the run throws), its upload inside its wall time.
      const script = rows.find((r) => r.contender === 'dzsave-rclone')!;
      assert.equal(script.outputBytes, rows.find((r) => r.contender === 'vips-dzsave')!.outputBytes);
      assert.ok(script.uploadS!.median > 0, `upload ${script.uploadS?.median} s`);
    }
  });

  test('the memory curve covers every image, hard cases included, for the CLI and the worker', () => {
    assert.deepEqual(json.memoryCurve.map((p) => p.image), json.images.map((i) => i.name));
    for (const p of json.memoryCurve) {
      assert.ok(p.hugemapTile && p.hugemapTile.peakRssMB > 10, `${p.image} hugemap tile`);
      assert.ok(p.worker && p.worker.peakRssMB > 10, `${p.image} worker`);
      // Own (anonymous) memory is part of the resident set, never more than its peak.
      for (const [who, m] of [['hugemap tile', p.hugemapTile], ['worker', p.worker]] as const) {
        assert.ok(m.peakAnonMB !== undefined && m.peakAnonMB > 5 && m.peakAnonMB <= m.peakRssMB, `${p.image} ${who}: own ${m.peakAnonMB} MB of ${m.peakRssMB} MB`);
      }
    }
    assert.deepEqual(json.memoryCurve.map((p) => p.kind), ['jpeg', 'jpeg', 'progressive-jpeg', '16-bit-png']);
  });

  test('throughput was measured for 1 and 2 workers on the same queue, N workers on N cores', () => {
    assert.deepEqual(json.throughput.map((t) => t.workers), [1, 2]);
    for (const t of json.throughput) {
      assert.equal(t.cores, canPin() ? Math.min(t.workers, cpus().length) : null);
      assert.equal(t.images, 2);
      assert.equal(t.workerRssMB.length, t.workers);
      assert.ok(t.imagesPerMinute > 0 && t.seconds > 0);
      // --quick runs one round: its figures are the round's, and 2 workers are compared with that round's 1.
      assert.deepEqual(
        t.rounds.map((r) => ({ seconds: r.seconds, imagesPerMinute: r.imagesPerMinute })),
        [{ seconds: t.seconds, imagesPerMinute: t.imagesPerMinute }],
      );
      // The stack's CPU: some, the workers' part of it, and per image what the round measured.
      const round = t.rounds[0]!;
      assert.ok(round.cpuSeconds! > 0 && round.workerCpuSeconds! > 0 && round.workerCpuSeconds! <= round.cpuSeconds!, JSON.stringify(round));
      assert.equal(t.cpuSecondsPerImage!.median, Math.round((round.cpuSeconds! / t.images) * 100) / 100);
      if (t.cores !== null) assert.ok(t.coresBusy!.median > 0, `cores busy ${t.coresBusy!.median}`);
      if (process.platform === 'linux') assert.equal(t.wakeupsPerImage!.median, Math.round(round.wakeups! / t.images));
    }
    const [one, two] = json.throughput;
    assert.equal(one!.speedUp, null);
    const ratio = Math.round((two!.imagesPerMinute / one!.imagesPerMinute) * 100) / 100;
    assert.deepEqual(two!.speedUp, { median: ratio, min: ratio, max: ratio });
  });

  test('the Markdown has a table row per contender and image with the JSON numbers', () => {
    for (const r of json.results) {
      const row = markdown.split('\n').find((l) => l.startsWith(`| ${r.label} |`) && markdown.indexOf(l) > markdown.indexOf(`## ${r.image}`));
      assert.ok(row, `row for ${r.label} on ${r.image}`);
      assert.ok(row.includes(`| ${r.mpPerS.toFixed(1)} |`), row);
    }
    assert.match(markdown, /## Memory curve/);
    assert.match(markdown, /## Throughput/);
    assert.match(markdown, /First view: upload start until/);
  });

  test('the chart is a PNG of the expected size', async () => {
    const meta = await sharp(join(out, 'quick.png')).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 1200);
    assert.equal(meta.height, 520);
    // Not blank: the lines and labels make the image far from uniform.
    const stats = await sharp(join(out, 'quick.png')).stats();
    assert.ok(stats.channels[0]!.stdev > 10);
  });
});
