/**
 * bench/cpu-pinning.ts: the throughput figure's "N workers on N cores" relies on
 * taskset really confining every thread of a running process, and on giving the
 * cores back afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { test } from 'node:test';
import { canPin, firstCores, pinToFirstCores, unpin } from '../bench/cpu-pinning.js';
import { waitFor } from './helpers/test-config.js';

/** Each thread's allowed cores: every thread must carry the mask, not just the main one. */
function allowedCores(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!);
}

test('firstCores names the first N cores', () => {
  assert.equal(firstCores(1), '0');
  assert.equal(firstCores(2), '0-1');
  assert.equal(firstCores(16), '0-15');
  assert.throws(() => firstCores(0), /positive integer/);
});

test('a running process, every thread of it, is confined to the first core and then gets all cores back', { skip: !canPin() && 'no taskset' }, async () => {
  // A Node child has several threads (libuv pool, V8 workers) from its start.
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const pid = child.pid!;
    const all = firstCores(cpus().length);
    await waitFor('the child to have several threads', async () => (allowedCores(pid).length > 1 ? true : undefined), 10_000, 20);
    await pinToFirstCores([pid], 1);
    assert.deepEqual(new Set(allowedCores(pid)), new Set(['0']));
    await unpin([pid]);
    assert.deepEqual(new Set(allowedCores(pid)), new Set([all]));
  } finally {
    child.kill('SIGKILL');
  }
});

test('a process that has already exited is skipped, not an error: the others are still pinned', { skip: !canPin() && 'no taskset' }, async () => {
  const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => gone.on('exit', r));
  const alive = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const pid = alive.pid!;
    await waitFor('the child to have several threads', async () => (allowedCores(pid).length > 1 ? true : undefined), 10_000, 20);
    await pinToFirstCores([gone.pid!, pid], 1);
    assert.deepEqual(new Set(allowedCores(pid)), new Set(['0']));
    await unpin([gone.pid!, pid]);
    assert.deepEqual(new Set(allowedCores(pid)), new Set([firstCores(cpus().length)]));
  } finally {
    alive.kill('SIGKILL');
  }
});
