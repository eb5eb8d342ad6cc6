/**
 * Runs one measured process under `/usr/bin/time -v` and reads back what the
 * kernel saw: wall seconds (our own clock around the process) and the peak
 * resident set of the largest single process in its tree ("Maximum resident
 * set size" is the max over the process and the children it waited for, not
 * a sum: gdal2tiles' worker processes are each counted alone).
 *
 * Peak RSS also counts file-backed pages: shared libraries and, for sharp's
 * libvips, the memory-mapped input file (docs/memory.md). So the process's own
 * (anonymous) memory is sampled too, from /proc/PID/status every 100 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const TIME_BIN = '/usr/bin/time';

export interface Measured {
  wallS: number;
  peakRssMB: number;
  /** User + system CPU seconds of the process and the children it waited for (time -v). */
  cpuS: number;
  /** Largest RssAnon seen by sampling the measured process (not its children) every 100 ms. */
  peakAnonMB: number;
  exitCode: number;
  /** Last lines of the process's own stderr (without time's report), for failure messages. */
  stderrTail: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kills the process (SIGKILL) after this long; null for services that run until stopped. @defaultValue 30 min */
  timeoutMs?: number | null;
}

/** Starts `command args` under time -v; `done` resolves when it exits. */
export function startTimed(
  command: string,
  args: string[],
  reportPath: string,
  opts: MeasureOptions & { stdio?: 'pipe' | 'ignore' } = {},
): { child: ChildProcess; done: Promise<Measured> } {
  const started = process.hrtime.bigint();
  const child = spawn(TIME_BIN, ['-v', '-o', reportPath, command, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', opts.stdio ?? 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const limit = opts.timeoutMs === undefined ? 30 * 60_000 : opts.timeoutMs;
  const timer = limit === null ? undefined : setTimeout(() => signalMeasured(child, 'SIGKILL'), limit);
  const anon = sampleAnon(() => measuredPid(child));
  const done = new Promise<Measured>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const wallS = Number(process.hrtime.bigint() - started) / 1e9;
      const peakAnonMB = anon.stop();
      readFile(reportPath, 'utf8')
        .then((report) => {
          const rss = parseTimeReport(report);
          resolve({ wallS, peakRssMB: rss.peakRssMB, cpuS: rss.cpuS, peakAnonMB, exitCode: rss.exitCode ?? code ?? (signal ? 128 : 1), stderrTail: stderr.split('\n').slice(-8).join('\n') });
        })
        .catch(reject);
    });
  });
  return { child, done };
}

/**
 * Sends `signal` to the measured process, not to GNU time: time would die of it and never
 * write its report, leaving the measured process orphaned.
 */
export function signalMeasured(timeProcess: ChildProcess, signal: NodeJS.Signals): void {
  const pid = timeProcess.pid;
  if (pid === undefined || timeProcess.exitCode !== null || timeProcess.signalCode !== null) return;
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return; // already gone
  }
  for (const child of children) {
    try {
      process.kill(child, signal);
    } catch {
      // exited meanwhile
    }
  }
}

/** The process GNU time is measuring (its only child), or undefined once gone. */
export function measuredPid(timeProcess: ChildProcess): number | undefined {
  try {
    const pid = timeProcess.pid!;
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Peak RSS of a long-running process over one stretch of work: reset the kernel's high-water
 * mark (VmHWM) to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0), work,
 * then read VmHWM.
 */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

export function readPeakRssMB(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return round1((Number(kb) * 1024) / 1e6);
}

export const ANON_SAMPLE_MS = 100;

/** Samples a process's RssAnon until stopped; `stop()` returns the largest value seen, in MB (10^6 bytes). */
export function sampleAnon(pid: () => number | undefined): { stop(): number } {
  let peakKb = 0;
  const sample = () => {
    const p = pid();
    if (p === undefined) return;
    try {
      const kb = Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      if (kb > peakKb) peakKb = kb;
    } catch {
      // exited between the two reads
    }
  };
  const timer = setInterval(sample, ANON_SAMPLE_MS);
  sample();
  return {
    stop() {
      clearInterval(timer);
      return round1((peakKb * 1024) / 1e6);
    },
  };
}

/** Runs to completion; a non-zero exit is an error naming the command. */
export async function runTimed(command: string, args: string[], reportPath: string, opts: MeasureOptions = {}): Promise<Measured> {
  const m = await startTimed(command, args, reportPath, { ...opts, stdio: 'ignore' }).done;
  if (m.exitCode !== 0) throw new Error(`${command} ${args.join(' ')} exited ${m.exitCode}:\n${m.stderrTail}`);
  return m;
}

/** Reads GNU time's -v report: peak RSS in MB (10^6 bytes), user + system CPU seconds and the exit status. */
export function parseTimeReport(report: string): { peakRssMB: number; cpuS: number; exitCode: number | undefined } {
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1];
  if (kb === undefined) throw new Error(`no "Maximum resident set size" in the time report:\n${report.slice(0, 500)}`);
  const status = /Exit status: (\d+)/.exec(report)?.[1];
  // For a killed process GNU time prints "Command terminated by signal N" first (and still an "Exit status: 0").
  const signal = /Command terminated by signal (\d+)/.exec(report)?.[1];
  const seconds = (label: string) => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(report)?.[1] ?? 0);
  return {
    peakRssMB: round1((Number(kb) * 1024) / 1e6),
    cpuS: Math.round((seconds('User') + seconds('System')) * 100) / 100,
    // A killed process gets both lines, "Exit status: 0" among them: the signal is what happened.
    exitCode: signal !== undefined ? 128 + Number(signal) : status !== undefined ? Number(status) : undefined,
  };
}

/** Total bytes of every file under `dir`. */
export async function folderBytes(dir: string): Promise<number> {
  return (await folderStats(dir)).bytes;
}

/** How many files are under `dir` and their total bytes, in one walk. */
export async function folderStats(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

/** CPU seconds (user + system) process `pid` has used so far, from /proc/PID/stat. */
export function cpuSecondsOf(pid: number): number {
  return cpuSecondsFromStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** User + system CPU seconds from the text of a /proc/PID/stat or /proc/PID/task/TID/stat file. */
export function cpuSecondsFromStat(stat: string): number {
  // The fields after the command name, which may itself hold spaces or ") ": utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** CPU seconds the live processes among `pids` have used so far (an exited one counts 0). */
export function cpuSecondsOfAll(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSecondsOf(pid);
    } catch {
      // exited
    }
  }
  return total;
}

/**
 * Rescheduling interrupts so far, summed over the CPUs: the IPIs by which one CPU wakes a task on
 * another. From the `RES:` line of /proc/interrupts (`text`, or the live file); null where there is none.
 */
export function reschedulingInterrupts(text?: string): number | null {
  let source = text;
  if (source === undefined) {
    try {
      source = readFileSync('/proc/interrupts', 'utf8');
    } catch {
      return null;
    }
  }
  const line = source.split('\n').find((l) => /^\s*RES:/.test(l));
  if (line === undefined) return null;
  // `RES:  <one count per CPU>  Rescheduling interrupts`: the counts are the numeric fields.
  const counts = line.trim().split(/\s+/).slice(1).filter((f) => /^\d+$/.test(f));
  return counts.reduce((n, c) => n + Number(c), 0);
}

/** USER_HZ on Linux: the unit of /proc/PID/stat's times. */
const TICKS_PER_S = 100;

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
