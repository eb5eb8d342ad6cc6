/**
 * `node --import tsx bench/preview-cost.ts [IMAGE] [RUNS]`: what the preview (shared/tiling/preview.ts)
 * costs the worker before its cut starts: wall and CPU seconds (this process, libvips threads
 * included) of writePreview on IMAGE (default the 236 MP corpus photo), RUNS times (default 3),
 * with the preview's size and bytes.
 */
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { probeImage } from '../shared/tiling/probe.js';
import { writePreview } from '../shared/tiling/preview.js';

const image = process.argv[2] ?? join(homedir(), '.cache/hugemap-corpus/photo-236mp.jpg');
const runs = Number(process.argv[3] ?? 3);
const probe = await probeImage(image, { maxPixels: 2e9 });
const out = join(tmpdir(), `hugemap-preview-cost-${process.pid}.jpg`);
try {
  for (let run = 1; run <= runs; run++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const made = await writePreview(image, probe, out, { maxPixels: 2e9 });
    const cpu = process.cpuUsage(cpu0);
    if (!made) throw new Error(`${image} gets no preview`);
    console.log(
      `run ${run}: ${probe.width}x${probe.height} -> ${made.width}x${made.height}, ${(made.bytes / 1024).toFixed(0)} KB, ` +
        `${((performance.now() - t0) / 1000).toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} CPU-s`,
    );
  }
} finally {
  await rm(out, { force: true });
}
