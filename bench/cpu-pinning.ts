/**
 * Confines processes, every thread of them, to the first N cores with
 * util-linux's `taskset`. The throughput figure is "N workers on N cores": the
 * servers, the API, the workers and the benchmark's own process all share those
 * N cores, so going from 1 to 2 workers is not flattered (or spoiled) by a core
 * that sits idle in one case and not the other.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);
const TASKSET = '/usr/bin/taskset';

export function canPin(): boolean {
  return process.platform === 'linux' && existsSync(TASKSET);
}

/** Cores 0..cores-1, e.g. `0-1`. */
export function firstCores(cores: number): string {
  if (!Number.isInteger(cores) || cores < 1) throw new Error(`cores must be a positive integer, got ${cores}`);
  return cores === 1 ? '0' : `0-${cores - 1}`;
}

/**
 * Pins each process (all its current threads; threads it starts later inherit
 * the mask) to the first `cores` cores. A process that has already exited is
 * skipped: it uses no core.
 */
export async function pinToFirstCores(pids: readonly number[], cores: number): Promise<void> {
  const list = firstCores(cores);
  for (const pid of pids) {
    // A thread the process starts while taskset walks its threads can miss the new mask (or inherit
    // the old one): apply it again until every thread carries it, a few passes at most.
    for (let pass = 0; pass < 5; pass++) {
      try {
        await run(TASKSET, ['-a', '-p', '-c', list, String(pid)]);
      } catch (err) {
        if (isAlive(pid)) throw new Error(`taskset -a -p -c ${list} ${pid} failed: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
      if (threadMasks(pid).every((mask) => mask === list)) break;
    }
  }
}

/** Each thread's Cpus_allowed_list; empty when the process is gone. */
function threadMasks(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1] ?? '');
  } catch {
    return [];
  }
}

/** Gives the processes every core of the machine back. */
export function unpin(pids: readonly number[]): Promise<void> {
  return pinToFirstCores(pids, cpus().length);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
