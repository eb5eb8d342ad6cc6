/**
 * The throughput figure from repeated rounds. Each round queues the same number of images once for
 * every worker count, one count after the other (order rotated per round), so a round's figures
 * were taken minutes apart at most. This host's speed drifts over a day by tens of percent, and
 * one 1-worker run against one 2-worker run measured 1.41x to 2.26x in four runs of one afternoon
 * (2026-12-03, 15:05-15:19); a speed-up is therefore taken within each round, against that round's
 * 1-worker run, and reported as the median and spread over the rounds.
 */
import type { ThroughputResult } from './results.js';
import type { ThroughputRun } from './service-path.js';
import { spread } from './stats.js';

/**
 * One result per worker count (ascending) from `rounds`, each round holding one run per worker
 * count; 1 worker must be among them, as the base of the speed-ups.
 */
export function summariseThroughput(imageName: string, rounds: readonly (readonly ThroughputRun[])[]): ThroughputResult[] {
  if (rounds.length === 0) throw new RangeError('no throughput rounds');
  const counts = [...new Set(rounds.flat().map((r) => r.workers))].sort((a, b) => a - b);
  const byRound = rounds.map((round) => new Map(round.map((r) => [r.workers, r])));
  for (const [i, round] of byRound.entries()) {
    if (!round.has(1) || counts.some((n) => !round.has(n))) throw new RangeError(`throughput round ${i + 1} lacks a worker count (has ${[...round.keys()].join(', ')})`);
  }
  return counts.map((workers) => {
    const runs = byRound.map((round) => round.get(workers)!);
    return {
      workers,
      cores: runs[0]!.cores,
      images: runs[0]!.images,
      imageName,
      seconds: spread(runs.map((r) => r.seconds)).median,
      imagesPerMinute: spread(runs.map((r) => r.imagesPerMinute)).median,
      rounds: runs.map((r) => ({ seconds: r.seconds, imagesPerMinute: r.imagesPerMinute, cpuSeconds: r.cpuSeconds, workerCpuSeconds: r.workerCpuSeconds, wakeups: r.wakeups })),
      cpuSecondsPerImage: spread(runs.map((r) => round2(r.cpuSeconds / r.images))),
      workerCpuSecondsPerImage: spread(runs.map((r) => round2(r.workerCpuSeconds / r.images))),
      wakeupsPerImage: runs.some((r) => r.wakeups === null) ? null : spread(runs.map((r) => Math.round(r.wakeups! / r.images))),
      coresBusy: runs[0]!.cores === null ? null : spread(runs.map((r) => round2(r.cpuSeconds / (r.seconds * r.cores!)))),
      speedUp: workers === 1 ? null : spread(byRound.map((round) => round2(round.get(workers)!.imagesPerMinute / round.get(1)!.imagesPerMinute))),
      workerRssMB: runs[0]!.workerRssMB.map((_, w) => Math.max(...runs.map((r) => r.workerRssMB[w] ?? 0))),
    };
  });
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
