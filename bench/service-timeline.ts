/**
 * `TMPDIR=/dev/shm node --import tsx bench/service-timeline.ts [IMAGE] [RUNS]`: when, in one
 * service-path job, the cut ends and how many tiles are in S3 by then. Starts the bench stack
 * (service-path.ts), uploads IMAGE (default the 236 MP corpus photo) RUNS times (default 2) and
 * prints per run: the status once a second (stage, tiles in S3), the moment the worker's libvips
 * threads last used CPU (the cut's end; /proc/PID/task/TID/stat, read every 100 ms) and the
 * tiles still to upload then, the worker's CPU seconds by thread name (`node`: the main thread
 * and the Huffman pass's worker thread; `libvips worker`: dzsave), and how busy the machine's cores
 * were (all processes, /proc/stat) in each quarter second: whether any CPU was left unused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cpuSecondsFromStat } from './measure.js';
import { removeImage, startStack, upload, waitUntilDone } from './service-path.js';

const image = process.argv[2] || join(homedir(), '.cache/hugemap-corpus/photo-236mp.jpg');
const runs = Number(process.argv[3] ?? 2);

/** CPU seconds per thread of `pid`, keyed `name:tid` (digits at the end of a name dropped: libvips numbers its threads). */
function threadCpu(pid: number): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
      cpu.set(`${name}:${tid}`, cpuSecondsFromStat(stat));
    } catch {
      // the thread ended between listing and reading
    }
  }
  return cpu;
}

/** Busy and total jiffies of all cores so far (/proc/stat's first line: idle and iowait count as not busy). */
function machineJiffies(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

function cpuSince(before: Map<string, number>, now: Map<string, number>, namePrefix = ''): number {
  let total = 0;
  for (const [key, s] of now) if (key.startsWith(namePrefix)) total += s - (before.get(key) ?? 0);
  return total;
}

function byName(before: Map<string, number>, now: Map<string, number>): string {
  const names = new Set([...now.keys()].map((k) => k.split(':')[0]!));
  return [...names]
    .map((n) => [n, cpuSince(before, now, `${n}:`)] as const)
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([n, s]) => `${n} ${s.toFixed(2)}`)
    .join(', ');
}

const stack = await startStack(join(process.env.TMPDIR ?? '/tmp', `hugemap-service-timeline-${process.pid}`));
try {
  const worker = stack.services.workerPid;
  for (let run = 1; run <= runs; run++) {
    const before = threadCpu(worker);
    const t0 = performance.now();
    const seconds = () => (performance.now() - t0) / 1000;
    let libvipsCpu = 0;
    let cutEndS = 0;
    const sampler = setInterval(() => {
      const now = cpuSince(before, threadCpu(worker), 'libvips');
      if (now > libvipsCpu) [libvipsCpu, cutEndS] = [now, seconds()];
    }, 100);
    const busy: string[] = [];
    let jiffies = machineJiffies();
    const busySampler = setInterval(() => {
      const now = machineJiffies();
      busy.push(`${Math.round((100 * (now.busy - jiffies.busy)) / Math.max(1, now.total - jiffies.total))}`);
      jiffies = now;
    }, 250);
    const timeline: Array<{ s: number; stage: string; done: number; total: number }> = [];
    const id = await upload(stack.services.url, image);
    await waitUntilDone(stack.services.url, id, undefined, (doc) => {
      const d = doc as { stage?: string; status?: string; tiles?: { done: number; total: number } };
      timeline.push({ s: seconds(), stage: d.stage ?? d.status ?? '?', done: d.tiles?.done ?? 0, total: d.tiles?.total ?? 0 });
    });
    clearInterval(sampler);
    clearInterval(busySampler);
    const wallS = seconds();
    const last = timeline.at(-1)!;
    const atCutEnd = timeline.filter((t) => t.s <= cutEndS).at(-1);
    const perSecond = timeline.filter((t, i) => i === 0 || Math.floor(t.s) > Math.floor(timeline[i - 1]!.s) || t.stage !== timeline[i - 1]!.stage);
    console.log(`run ${run}: ${wallS.toFixed(2)} s; ${perSecond.map((t) => `${t.s.toFixed(1)}s ${t.stage} ${t.done}/${t.total}`).join(' | ')}`);
    const left = atCutEnd && last.total ? `, ${(100 * (1 - atCutEnd.done / last.total)).toFixed(0)}% of the tiles not yet in S3 then` : '';
    console.log(`  cut ended at ${cutEndS.toFixed(1)} s${left}; worker CPU-s by thread: ${byName(before, threadCpu(worker))}`);
    console.log(`  cores busy, % per quarter second: ${busy.join(' ')}`);
    await removeImage(stack.services.url, stack.s3, id);
  }
} finally {
  await stack.stop();
}
