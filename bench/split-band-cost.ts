/**
 * `node --import tsx bench/split-band-cost.ts IMAGE [SPLIT_PIXELS] [BAND]`: where a split job's extra
 * CPU goes (docs/split-jobs.md, "Cost, and the default"), timed in this one process for a plain
 * JPEG: the tile job's index pass, one band's cut from its slice (three times: the first pays the
 * process's warm-up) and its level image, decoding the slice alone, and the whole image's cut for
 * comparison. Wall and CPU seconds (user + system, every thread of the process). libvips runs its
 * default threads, as `hugemap tile` does. Files go to a temporary folder, removed at the end.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { bandAt, planBands } from '../shared/tiling/band-plan.js';
import { indexJpegSlices } from '../shared/tiling/jpeg-slice-index.js';
import { writeJpegSlice } from '../shared/tiling/jpeg-slice.js';
import { writeLevelImageFromPixels } from '../shared/tiling/level-image.js';
import { tileImage } from '../shared/tiling/tile-image.js';
import { decodedPixels } from '../shared/tiling/vips-raw-rows.js';

const [image, splitArg = '100000000', bandArg = '1'] = process.argv.slice(2);
if (!image) throw new Error('usage: bench/split-band-cost.ts IMAGE [SPLIT_PIXELS] [BAND]');
const meta = await sharp(image, { limitInputPixels: false }).metadata();
const plan = planBands(meta.width!, meta.height!, Number(splitArg));
if (!plan) throw new Error(`${image} is not split at ${splitArg} pixels`);
const band = bandAt(plan, Number(bandArg));
const dir = await mkdtemp(join(tmpdir(), 'hugemap-band-cost-'));

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const [cpu, wall] = [cpuSeconds(), performance.now()];
  const result = await work();
  console.log(`${label.padEnd(44)} ${((performance.now() - wall) / 1000).toFixed(2)} s  ${(cpuSeconds() - cpu).toFixed(2)} CPU-s`);
  return result;
}

try {
  console.log(`${image}: ${meta.width}x${meta.height}, ${plan.bands} bands of ${plan.bandHeight} rows, k = ${plan.shrinks}; band ${band.index}: rows ${band.top}..${band.top + band.height}`);
  const index = await timed('index pass (tile job)', () => indexJpegSlices(image, plan));
  if (!index) throw new Error(`${image} cannot be sliced (not a plain baseline JPEG)`);
  const slice = index.slices[band.index]!;
  const file = await readFile(image);
  const [entropy, slicePath, out] = [join(dir, 'entropy.bin'), join(dir, 'slice.jpg'), join(dir, 'out')];
  await writeFile(entropy, file.subarray(slice.startByte, slice.endByte));
  await writeJpegSlice(file.subarray(0, index.headerBytes), entropy, slice, slicePath);
  const rows = { top: slice.cropTop, height: band.height };
  for (const run of [1, 2, 3]) {
    await rm(out, { recursive: true, force: true });
    await timed(`band cut from its slice, run ${run}`, () => tileImage(slicePath, out, { jpegEncoder: 'direct', rows, tmpDir: dir }));
  }
  const crop = { ...rows, width: plan.width };
  await timed('band level image (second decode + halvings)', () =>
    writeLevelImageFromPixels(decodedPixels(slicePath, 'jpeg', crop), { width: plan.width, height: band.height }, plan.shrinks, join(dir, 'level.png')),
  );
  await timed('decoding the slice alone', async () => {
    for await (const rowsOut of decodedPixels(slicePath, 'jpeg', crop)) void rowsOut;
  });
  await rm(out, { recursive: true, force: true });
  await timed('whole image cut (hugemap tile\'s library)', () => tileImage(image, out, { jpegEncoder: 'direct', tmpDir: dir }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
