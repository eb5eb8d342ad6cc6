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

// Frees 200 MB of Buffers, then reports RSS before and after the purge (MB) and what it returned.
const SCRIPT = `
const { purgeFreedMemory } = await import(${JSON.stringify(new URL('../workers/allocator-purge.ts', import.meta.url).href)});
let bufs = [];
for (let i = 0; i < 200; i++) bufs.push(Buffer.alloc(1 << 20, 1));
bufs = null;
globalThis.gc();
const before = process.memoryUsage().rss / 1e6;
const purged = purgeFreedMemory();
console.log(JSON.stringify({ purged, before, after: process.memoryUsage().rss / 1e6 }));
`;

async function purgeIn(env: NodeJS.ProcessEnv): Promise<{ purged: boolean; before: number; after: number }> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', SCRIPT], { env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

test('under jemalloc the purge gives freed pages back at once; without it, it does nothing', { skip: !existsSync(JEMALLOC_PATH) && 'no libjemalloc2 here' }, async () => {
  // A long decay, so that nothing but the purge hands the pages back during the check.
  const jemalloc = await purgeIn({ LD_PRELOAD: JEMALLOC_PATH, MALLOC_CONF: 'narenas:2,dirty_decay_ms:60000,muzzy_decay_ms:60000' });
  assert.equal(jemalloc.purged, true);
  assert.ok(jemalloc.before - jemalloc.after > 50, `RSS ${jemalloc.before.toFixed(0)} -> ${jemalloc.after.toFixed(0)} MB`);
  const glibc = await purgeIn({ LD_PRELOAD: '' });
  assert.equal(glibc.purged, false);
});
