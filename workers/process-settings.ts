/**
 * How a worker process is started: settings that must be in place before Node
 * starts (an allocator preload, V8's heap sizes), so the worker cannot apply
 * them to itself. `hugemap dev`, the benchmark and docker-compose.yml all start
 * workers with these (test/compose.test.ts checks the compose file against them).
 *
 * Why, measured on the 944 MP photo through the service path (docs/memory.md,
 * "The worker under 300 MB"): the cut itself needs about 200 MB of libvips
 * strips at that width, so everything else the worker holds counts.
 */
import { existsSync } from 'node:fs';
import v8 from 'node:v8';

/** Debian's libjemalloc2: libvips on every core without glibc's arenas fragmenting (docs/memory.md). */
export const JEMALLOC_PATH = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

/**
 * Two arenas instead of jemalloc's default of four per core, and freed pages handed back after
 * a second instead of ten: the worker's peak own memory at 944 MP fell by about 15 MB.
 */
export const WORKER_MALLOC_CONF = 'narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0';

/**
 * `--max-semi-space-size=4`: V8's young generation at 2 x 4 MB instead of 2 x 16 MB, which the
 * upload requests' short-lived objects otherwise fill: about 25 MB less at every size.
 * `--expose-gc`: the worker collects once after downloading the original when its socket buffers
 * (20-30 MB of dead Buffers at 944 MP, which V8 had no reason to collect yet) would otherwise still
 * be held when libvips starts the cut (see releaseGarbage in process-image-job.ts).
 */
export const WORKER_NODE_OPTIONS = ['--max-semi-space-size=4', '--expose-gc'];

/**
 * V8 lets its old generation grow up to 4x what survived the last full collection, and job after
 * job the upload requests' garbage piled up that way; 1.5x keeps a worker's peak flat from job to
 * job at the same CPU (docs/memory.md). V8 refuses this flag in NODE_OPTIONS and reads it at every
 * collection, so the worker sets it on itself when it starts.
 */
export const WORKER_HEAP_GROWING_PERCENT = 50;

/** Caps V8's heap growth between full collections in this process (see WORKER_HEAP_GROWING_PERCENT). */
export function limitHeapGrowth(percent = WORKER_HEAP_GROWING_PERCENT): void {
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/** `{ LD_PRELOAD: jemalloc }` when the machine has it and `env` preloads nothing of its own, else `{}`. */
export function jemallocPreload(env: NodeJS.ProcessEnv, jemallocPath = JEMALLOC_PATH): { LD_PRELOAD?: string } {
  if (env.LD_PRELOAD !== undefined || !existsSync(jemallocPath)) return {};
  return { LD_PRELOAD: jemallocPath };
}

/** `--max-semi-space-size=4` -> `--max-semi-space-size`: a flag counts as given whatever its value. */
const flagName = (flag: string): string => flag.split('=')[0]!;

/**
 * `env` plus the worker's process settings. Whatever `env` already sets wins: an operator's
 * own LD_PRELOAD or MALLOC_CONF is kept, NODE_OPTIONS only gains the flags it lacks.
 */
export function workerProcessEnv(env: NodeJS.ProcessEnv, jemallocPath = JEMALLOC_PATH): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, ...jemallocPreload(env, jemallocPath) };
  if (out.LD_PRELOAD?.includes('jemalloc') && out.MALLOC_CONF === undefined) out.MALLOC_CONF = WORKER_MALLOC_CONF;
  const given = (out.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean);
  const missing = WORKER_NODE_OPTIONS.filter((flag) => !given.some((g) => flagName(g) === flagName(flag)));
  if (missing.length > 0) out.NODE_OPTIONS = [...given, ...missing].join(' ');
  return out;
}

/**
 * Which of the settings this process was started without (empty when all are there), so a worker
 * started by hand says so once: it works without them, only with more memory at gigapixel sizes.
 */
export function missingWorkerSettings(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  const given = [...(env.NODE_OPTIONS ?? '').split(/\s+/), ...execArgv].filter(Boolean).map(flagName);
  const missing = WORKER_NODE_OPTIONS.filter((flag) => !given.includes(flagName(flag)));
  if (!env.LD_PRELOAD?.includes('jemalloc')) missing.push(`LD_PRELOAD=${JEMALLOC_PATH}`);
  else if (env.MALLOC_CONF === undefined) missing.push(`MALLOC_CONF=${WORKER_MALLOC_CONF}`);
  return missing;
}
