/**
 * The settings every launcher gives a worker process (workers/process-settings.ts):
 * added where missing, never overriding what an operator set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { worthCollecting } from '../workers/release-garbage.js';
import { JEMALLOC_PATH, WORKER_HEAP_GROWING_PERCENT, WORKER_MALLOC_CONF, WORKER_NODE_OPTIONS, missingWorkerSettings, workerProcessEnv } from '../workers/process-settings.js';

const MISSING = '/nonexistent/libjemalloc.so.2';

test('a bare environment gets jemalloc, its settings and the V8 flags; other variables pass through', () => {
  const env = workerProcessEnv({ REDIS_URL: 'redis://x' }, process.execPath); // any file that exists stands in for jemalloc
  assert.equal(env.LD_PRELOAD, process.execPath);
  assert.equal(env.MALLOC_CONF, undefined, 'MALLOC_CONF is for jemalloc only');
  assert.equal(env.NODE_OPTIONS, WORKER_NODE_OPTIONS.join(' '));
  assert.equal(env.REDIS_URL, 'redis://x');

  const withJemalloc = workerProcessEnv({ LD_PRELOAD: JEMALLOC_PATH });
  assert.equal(withJemalloc.MALLOC_CONF, WORKER_MALLOC_CONF);
});

test('no jemalloc on the machine: no preload and no MALLOC_CONF, the V8 flags still', () => {
  const env = workerProcessEnv({}, MISSING);
  assert.equal(env.LD_PRELOAD, undefined);
  assert.equal(env.MALLOC_CONF, undefined);
  assert.equal(env.NODE_OPTIONS, '--max-semi-space-size=4 --expose-gc');
});

test("an operator's settings win: LD_PRELOAD and MALLOC_CONF kept, a NODE_OPTIONS flag they set is not added again", () => {
  const env = workerProcessEnv({ LD_PRELOAD: '/opt/libjemalloc.so', MALLOC_CONF: 'narenas:1', NODE_OPTIONS: '--max-semi-space-size=8  --enable-source-maps' });
  assert.equal(env.LD_PRELOAD, '/opt/libjemalloc.so');
  assert.equal(env.MALLOC_CONF, 'narenas:1');
  assert.equal(env.NODE_OPTIONS, '--max-semi-space-size=8 --enable-source-maps --expose-gc');
  const input = { NODE_OPTIONS: '--expose-gc' };
  workerProcessEnv(input, MISSING);
  assert.deepEqual(input, { NODE_OPTIONS: '--expose-gc' }, 'the given environment is not changed');
});

test('Node accepts the flags in NODE_OPTIONS: the semi-space limit holds and gc is exposed', () => {
  const out = execFileSync(process.execPath, ['-e', `
    const v8 = require('node:v8');
    // Objects that survive a while make V8 grow the young generation to its limit (2 x 16 MB by default).
    const kept = []; for (let i = 0; i < 3e6; i++) { kept.push({ i }); if (kept.length > 300000) kept.length = 0; }
    const grown = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(JSON.stringify({ gc: typeof globalThis.gc, newSpaceMB: grown.space_size / 1048576 }));
  `], { env: workerProcessEnv({ PATH: process.env.PATH }, MISSING), encoding: 'utf8' });
  const { gc, newSpaceMB } = JSON.parse(out) as { gc: string; newSpaceMB: number };
  assert.equal(gc, 'function');
  assert.ok(newSpaceMB <= 8, `new space ${newSpaceMB} MB is within 2 x 4 MB`);
});

test('a worker knows which settings it was started without', () => {
  assert.deepEqual(missingWorkerSettings(workerProcessEnv({ LD_PRELOAD: JEMALLOC_PATH }), []), [], 'everything workerProcessEnv gives is recognised');
  assert.deepEqual(missingWorkerSettings({}, []), [...WORKER_NODE_OPTIONS, `LD_PRELOAD=${JEMALLOC_PATH}`]);
  assert.deepEqual(
    missingWorkerSettings({ LD_PRELOAD: JEMALLOC_PATH, NODE_OPTIONS: '--expose-gc' }, ['--max-semi-space-size=8']),
    [`MALLOC_CONF=${WORKER_MALLOC_CONF}`],
    'flags count from NODE_OPTIONS and the command line, whatever their value',
  );
});

test('the forced collection after a download runs only when it left at least 16 MiB more Buffers than the last one kept', () => {
  const MiB = 1024 * 1024;
  // Measured before a 236 MP job's cut: 48 MiB on the worker's first big job (17.5 after it), 19.6 on later ones.
  assert.equal(worthCollecting(48 * MiB, 0), true);
  assert.equal(worthCollecting(19.6 * MiB, 17.5 * MiB), false);
  assert.equal(worthCollecting(17.5 * MiB + 16 * MiB, 17.5 * MiB), true);
  assert.equal(worthCollecting(17.5 * MiB + 16 * MiB - 1, 17.5 * MiB), false);
});

test('the worker caps V8\'s heap growth: promoted garbage does not pile up between full collections', () => {
  assert.equal(WORKER_HEAP_GROWING_PERCENT, 50);
  const script = fileURLToPath(new URL('./helpers/heap-growth.ts', import.meta.url));
  // The worker's own young generation size, so objects are promoted as they are in the worker.
  const largestHeap = (arg: string) => {
    const out = execFileSync(process.execPath, ['--max-semi-space-size=4', '--import', 'tsx', script, arg], { encoding: 'utf8' });
    return Number(out.split(' ')[0]);
  };
  const capped = largestHeap('limit');
  const uncapped = largestHeap('none');
  // Measured: 88 MiB against 220 (V8 11.3, Node 20).
  assert.ok(capped < 0.6 * uncapped, `heap peaked at ${capped} MiB capped against ${uncapped} MiB uncapped`);
});
