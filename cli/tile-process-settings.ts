/**
 * `hugemap tile` runs in a child process started with the worker's process settings
 * (workers/process-settings.ts) when this one was started without them: jemalloc with two arenas,
 * and V8's young generation at 2 x 4 MB, which only a flag given to node at its start can set
 * (v8.setFlagsFromString is too late for it). At 10 GP and 40960 px they keep the cut under 300 MB:
 * 274,644 and 276,272 kB of peak RSS with them, 295,856 and 298,316 kB with jemalloc alone
 * (docs/performance.md, "10 gigapixels").
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { missingWorkerSettings, workerProcessEnv } from '../workers/process-settings.js';

/** Set for the child: it runs the command itself, even where a setting cannot be had (no jemalloc here). */
export const STARTED_WITH_SETTINGS = 'HUGEMAP_TILE_PROCESS_SETTINGS';

/** Whether this process should start the command again with the settings. */
export function wantsRerun(env: NodeJS.ProcessEnv, execArgv: readonly string[]): boolean {
  return env[STARTED_WITH_SETTINGS] !== '1' && missingWorkerSettings(env, execArgv).length > 0;
}

/**
 * Runs this command line again in a child with the settings; resolves with the status to exit
 * with, or null when it is to run here (the settings are there, or the child could not start).
 */
export async function rerunWithProcessSettings(): Promise<number | null> {
  if (!wantsRerun(process.env, process.execArgv)) return null;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...workerProcessEnv(process.env), [STARTED_WITH_SETTINGS]: '1' },
  });
  // Ctrl-C reaches the child from the terminal (one process group): passing it on as well would
  // interrupt the child's clean-up. A SIGTERM or SIGHUP sent to this process alone is passed on.
  const ignore = (): void => undefined;
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', ignore).on('SIGTERM', forward).on('SIGHUP', forward);
  try {
    return await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    process.off('SIGINT', ignore).off('SIGTERM', forward).off('SIGHUP', forward);
  }
}
