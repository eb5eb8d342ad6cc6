/**
 * Hands the pages the allocator holds for freed memory back to the system now. A worker runs under
 * jemalloc (process-settings.ts), which keeps freed pages for up to `dirty_decay_ms` (1 s) before
 * returning them: a split job's band that starts right after another one would otherwise add its
 * cut's first allocations to the previous band's freed-but-held pages (docs/split-jobs.md, "Memory").
 * Through jemalloc's own `mallctl("arena.<MALLCTL_ARENAS_ALL>.purge")`, called with koffi as
 * vips-ffi.ts calls libvips; without jemalloc in the process (or koffi) it does nothing.
 */
import { createRequire } from 'node:module';
import { JEMALLOC_PATH } from './process-settings.js';

/** jemalloc's MALLCTL_ARENAS_ALL: the name for every arena at once. */
const ALL_ARENAS = 4096;

type Mallctl = (name: string, oldp: null, oldlenp: null, newp: null, newlen: number) => number;
let mallctl: Mallctl | null | undefined;

function load(): Mallctl | null {
  if (mallctl !== undefined) return mallctl;
  mallctl = null;
  // Only the allocator that is actually in use: loading jemalloc into a process that runs on glibc would add a second one.
  if (!(process.env.LD_PRELOAD ?? '').includes('jemalloc')) return mallctl;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    mallctl = koffi.load(JEMALLOC_PATH).func('int mallctl(const char *name, void *oldp, void *oldlenp, void *newp, size_t newlen)') as unknown as Mallctl;
  } catch {
    mallctl = null;
  }
  return mallctl;
}

/** Purges every arena's unused dirty pages; true when it did (jemalloc preloaded), false otherwise. */
export function purgeFreedMemory(): boolean {
  const fn = load();
  return fn !== null && fn(`arena.${ALL_ARENAS}.purge`, null, null, null, 0) === 0;
}
