/** bench/results: the JSON as measured, and the same numbers as a Markdown report. */
import type { BenchResults, ContenderResult } from './results.js';
import { spread, type Spread } from './stats.js';

export function markdownReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(`# hugemap benchmark${m.quick ? ' (--quick: tiny images, proves the harness, numbers mean nothing)' : ''}`, '');
  out.push(
    `\`${m.command}\`, ${m.startedAt} to ${m.finishedAt}; ${m.machine.cpus} x ${m.machine.cpuModel}, ${m.machine.memoryGB} GB; ` +
      `load average at start ${m.machine.loadAvgAtStart.map((l) => l.toFixed(2)).join(' ')}. ${m.runs} run(s) per contender, alternating; ` +
      `median (min-max). Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join('; ')}. Worker allocator: ${m.workerAllocator}.`,
    '',
  );
  const byImage = new Map<string, ContenderResult[]>();
  for (const c of r.results) byImage.set(c.image, [...(byImage.get(c.image) ?? []), c]);
  for (const [image, rows] of byImage) {
    const img = r.images.find((i) => i.name === image);
    out.push(`## ${image}${img ? ` (${img.width}x${img.height}, ${img.megapixels} MP, ${mb(img.bytes)} MB)` : ''}`, '');
    out.push('| contender | wall s | MP/s | x vips dzsave | CPU s (all processes) | peak RSS MB (largest process) | own memory MB | output MB |');
    out.push('|---|---|---|---|---|---|---|---|');
    for (const c of rows) {
      const own = c.workerAnonMB ? `worker ${fmtSpread(c.workerAnonMB, 0)}` : c.peakAnonMB ? fmtSpread(c.peakAnonMB, 0) : '-';
      const cpu = c.cpuS ? fmtSpread(c.cpuS, 1) : '-';
      out.push(`| ${c.label} | ${fmtSpread(c.wallS, 2)} | ${c.mpPerS.toFixed(1)} | ${c.ratioToVips === null ? '-' : `${c.ratioToVips.toFixed(2)}x`} | ${cpu} | ${fmtSpread(c.peakRssMB, 0)} | ${own} | ${mb(c.outputBytes)} |`);
      if (c.previewS) out.push(`| &nbsp;&nbsp;... preview shown (see below) | ${fmtSpread(c.previewS, 2)} | | | | | | |`);
      if (c.firstViewS) {
        out.push(`| &nbsp;&nbsp;... first view (see below) | ${fmtSpread(c.firstViewS, 2)} | | | | API ${fmtSpread(c.apiRssMB!, 0)}, worker ${fmtSpread(c.workerRssMB!, 0)} | | |`);
      }
      if (c.uploadS) out.push(`| &nbsp;&nbsp;... of which the upload (rclone) | ${fmtSpread(c.uploadS, 2)} | | | | | | |`);
      if (c.acceptedToDoneS) {
        const ratio = c.acceptedToDoneRatio == null ? '-' : `${c.acceptedToDoneRatio.toFixed(2)}x`;
        out.push(`| &nbsp;&nbsp;... from upload accepted (202) to last tile | ${fmtSpread(c.acceptedToDoneS, 2)} | | ${ratio} | | | | |`);
      }
    }
    out.push('');
  }
  out.push(`First view: ${m.firstViewDefinition}`, '');
  out.push('CPU s: user + system seconds of every process the contender needs: a tiler\'s own (with its children); for the service path the whole stack (API, worker, Redis, FerretDB, the S3 server: MinIO, or versitygw in its own row), for the shell script dzsave, rclone and the stack\'s servers (MinIO) meanwhile. 2 cores can give at most twice the wall time.', '');
  out.push('Own memory: the measured process\'s anonymous memory (RssAnon), sampled every 100 ms: peak RSS without shared libraries and memory-mapped files (sharp\'s libvips maps an input JPEG it opens by name, as on the sharp path; the direct path hands it a pipe).', '');
  if (r.memoryCurve.length > 0) {
    out.push('## Memory curve (peak RSS of one process, one run each)', '');
    out.push('| image | kind | MP | hugemap tile MB (own) | hugemap tile s | worker MB (own) | service path s |');
    out.push('|---|---|---|---|---|---|---|');
    const withOwn = (m: { peakRssMB: number; peakAnonMB?: number } | null, none: string) =>
      m ? `${m.peakRssMB.toFixed(0)}${m.peakAnonMB === undefined ? '' : ` (${m.peakAnonMB.toFixed(0)})`}` : none;
    for (const p of r.memoryCurve) {
      const none = p.refused ? `refused (${p.refused})` : p.failed ? `failed (${p.failed})` : '-';
      out.push(`| ${p.image} | ${p.kind} | ${p.megapixels} | ${withOwn(p.hugemapTile, none)} | ${p.hugemapTile?.wallS.toFixed(1) ?? '-'} | ${withOwn(p.worker, none)} | ${p.worker?.wallS.toFixed(1) ?? '-'} |`);
    }
    out.push('');
  }
  if (r.throughput.length > 0) {
    out.push('## Throughput (a queue of images, N workers on N cores)', '');
    out.push(
      `The whole stack (servers, API, workers; S3 on ${r.throughput[0]!.s3Server ?? 'minio'}) is confined to the cores shown with taskset; each worker runs one libvips thread. ` +
        'Each round runs every worker count once, in rotated order; seconds and images/minute are median (min-max) over the rounds, ' +
        "the speed-up is each round's images/minute over that round's 1-worker run, median (min-max). " +
        'CPU s per image: every pinned process (in brackets the workers alone), from resuming the queue to the last image done; ' +
        'more per image with more workers is work that running side by side adds, where a speed-up below N with the same CPU per image would mean idle cores. ' +
        'Cores busy: those CPU seconds over the pinned cores\' time. Cross-core wake-ups: rescheduling interrupts (/proc/interrupts RES), one core waking a task on another.',
      '',
    );
    out.push('| workers | cores | images | rounds | seconds | images/minute | speed-up | CPU s per image (workers) | cores busy | cross-core wake-ups per image | worker peak RSS MB |');
    out.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const t of r.throughput) {
      const seconds = fmtSpread(spread(t.rounds.map((x) => x.seconds)), 1);
      const perMinute = fmtSpread(spread(t.rounds.map((x) => x.imagesPerMinute)), 1);
      const speedUp = t.speedUp ? fmtSpread(t.speedUp, 2, 'x') : '-';
      const cpu = t.cpuSecondsPerImage ? fmtSpread(t.cpuSecondsPerImage, 2) + (t.workerCpuSecondsPerImage ? ` (${fmtSpread(t.workerCpuSecondsPerImage, 2)})` : '') : '-';
      const wakeups = t.wakeupsPerImage ? fmtSpread(t.wakeupsPerImage, 0) : '-';
      const busy = t.coresBusy ? fmtSpread({ min: t.coresBusy.min * 100, median: t.coresBusy.median * 100, max: t.coresBusy.max * 100 }, 0, '%') : '-';
      out.push(`| ${t.workers} | ${t.cores ?? 'all (no taskset)'} | ${t.images} x ${t.imageName} | ${t.rounds.length} | ${seconds} | ${perMinute} | ${speedUp} | ${cpu} | ${busy} | ${wakeups} | ${t.workerRssMB.map((x) => x.toFixed(0)).join(', ')} |`);
    }
    out.push('');
  }
  if (m.skipped.length > 0) out.push('Skipped: ' + m.skipped.join('; '), '');
  return out.join('\n');
}

/** `median (min-max)`, or the median alone when every run gave the same; `unit` follows each number. */
function fmtSpread(s: Spread, digits: number, unit = ''): string {
  const f = (n: number) => n.toFixed(digits) + unit;
  return s.min === s.max ? f(s.median) : `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
