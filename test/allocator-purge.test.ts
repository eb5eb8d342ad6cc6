/**
 * workers/allocator-purge.ts: under jemalloc (as a worker runs) the purge reaches jemalloc and gives
 * freed pages back at once; without it, it does nothing and says so. Each case in its own process,
 * since the allocator is chosen when a process starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { JEMALLOC_PATH } from '../workers/process-settings.js';

const run = promisify(execFile);

// Mallocs, touches and frees 200 MB through the process's allocator (jemalloc's own malloc when it
// is preloaded, called with koffi: Buffers are freed by V8's background sweeper, whenever it runs),
// then reports RSS before and after the purge (MB) and what the purge returned.
const SCRIPT = `
const { purgeFreedMemory } = await import(${JSON.stringify(new URL('../workers/allocator-purge.ts', import.meta.url).href)});
const { createRequire } = await import('node:module');
const koffi = createRequire(import.meta.url)('koffi');
const lib = koffi.load(process.env.LD_PRELOAD || 'libc.so.6');
const malloc = lib.func('void *malloc(size_t)');
const free = lib.func('void free(void *)');
const memset = koffi.load('libc.so.6').func('void *memset(void *, int, size_t)');
const blocks = [];
for (let i = 0; i < 200; i++) blocks.push(memset(malloc(1 << 20), 1, 1 << 20));
for (const block of blocks) free(block);
const before = process.memoryUsage().rss / 1e6;
const purged = purgeFreedMemory();
console.log(JSON.stringify({ purged, before, after: process.memoryUsage().rss / 1e6 }));
`;

async function purgeIn(env: NodeJS.ProcessEnv): Promise<{ purged: boolean; before: number; after: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], { env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

test('under jemalloc the purge gives freed pages back at once; without it, it does nothing', { skip: !existsSync(JEMALLOC_PATH) && 'no libjemalloc2 here' }, async () => {
  // No decay at all (-1), so that nothing but the purge hands the pages back: with a long one, jemalloc
  // still returned part of them at free() (258 -> 123 MB), and how much varied under load.
  const jemalloc = await purgeIn({ LD_PRELOAD: JEMALLOC_PATH, MALLOC_CONF: 'narenas:2,dirty_decay_ms:-1,muzzy_decay_ms:-1' });
  assert.equal(jemalloc.purged, true);
  assert.ok(jemalloc.before - jemalloc.after > 150, `RSS ${jemalloc.before.toFixed(0)} -> ${jemalloc.after.toFixed(0)} MB`);
  const glibc = await purgeIn({ LD_PRELOAD: '' });
  assert.equal(glibc.purged, false);
});
