/** The scaled-image disk cache on a real folder: render once, byte cap with LRU eviction, rebuilt at start, atomic files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, stat, utimes, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DiskCache } from '../services/scaling/disk-cache.js';
import { waitFor } from './helpers/test-config.js';

const tmp = () => mkdtemp(path.join(os.tmpdir(), 'hugemap-cache-test-'));
const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, 'files'), { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(e.name);
  return out.sort();
}

async function bytesOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  return total;
}

test('renders once; later gets are hits with the same file and validator', async () => {
  const cache = new DiskCache(await tmp(), 10_000);
  let renders = 0;
  const render = async () => {
    renders++;
    return bytes(100, 1);
  };
  const first = await cache.get('img/10x10.jpg', render);
  const second = await cache.get('img/10x10.jpg', render);
  assert.equal(first.hit, false);
  assert.equal(second.hit, true);
  assert.equal(renders, 1);
  assert.equal(second.etag, first.etag);
  assert.ok((await readFile(second.file)).equals(bytes(100, 1)));
});

test('concurrent misses for one key render once', async () => {
  const cache = new DiskCache(await tmp(), 10_000);
  let renders = 0;
  const render = async () => {
    renders++;
    await new Promise((r) => setTimeout(r, 20));
    return bytes(10, 2);
  };
  const all = await Promise.all(Array.from({ length: 5 }, () => cache.get('k/a.png', render)));
  assert.equal(renders, 1);
  assert.equal(new Set(all.map((e) => e.file)).size, 1);
});

test('the byte cap holds; the least recently used go first', async () => {
  const dir = await tmp();
  const cache = new DiskCache(dir, 1000);
  for (const k of ['a', 'b', 'c']) await cache.get(`x/${k}.jpg`, async () => bytes(300, 1));
  // Touch a: b is now the least recently used.
  assert.equal((await cache.get('x/a.jpg', async () => bytes(300, 9))).hit, true);
  await cache.get('x/d.jpg', async () => bytes(300, 1));
  assert.deepEqual(await filesIn(dir), ['a.jpg', 'c.jpg', 'd.jpg']);
  assert.ok(cache.size <= 1000);
  // Many more: never above the cap, on disk as well as in the index.
  for (let i = 0; i < 20; i++) await cache.get(`y/${i}.jpg`, async () => bytes(150 + i, 1));
  assert.ok(cache.size <= 1000, `index holds ${cache.size}`);
  // Evicted files are unlinked just after the eviction, not awaited by get().
  await waitFor('the files on disk within the cap', async () => ((await bytesOnDisk(path.join(dir, 'files'))) <= 1000 ? true : undefined), 5_000, 10);
  assert.equal((await cache.get('x/b.jpg', async () => bytes(10, 1))).hit, false, 'evicted entries render again');
});

test('an entry larger than the whole cache is served but not kept', async () => {
  const dir = await tmp();
  const cache = new DiskCache(dir, 100);
  const big = await cache.get('z/big.jpg', async () => bytes(500, 3));
  assert.ok((await readFile(big.file)).equals(bytes(500, 3)));
  assert.deepEqual(await filesIn(dir), []);
  assert.equal((await cache.get('z/big.jpg', async () => bytes(500, 3))).hit, false);
});

test('a restart rebuilds the index from the folder, oldest access first, and drops temp leftovers', async () => {
  const dir = await tmp();
  const before = new DiskCache(dir, 1000);
  for (const k of ['old', 'mid', 'new']) await before.get(`r/${k}.jpg`, async () => bytes(300, 1));
  const file = (k: string) => path.join(dir, 'files', 'r', `${k}.jpg`);
  await utimes(file('old'), new Date(1_000_000), new Date(1_000_000));
  await utimes(file('mid'), new Date(2_000_000), new Date(2_000_000));
  await utimes(file('new'), new Date(3_000_000), new Date(3_000_000));
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  await writeFile(path.join(dir, 'tmp', 'half-written'), 'x');

  const after = new DiskCache(dir, 1000);
  assert.equal((await after.get('r/mid.jpg', async () => bytes(1, 0))).hit, true, 'found on disk');
  await after.get('r/another.jpg', async () => bytes(300, 1));
  const expected = ['another.jpg', 'mid.jpg', 'new.jpg'];
  await waitFor('the oldest to be unlinked', async () => (JSON.stringify(await filesIn(dir)) === JSON.stringify(expected) ? true : undefined), 5_000, 10).catch(() => undefined);
  assert.deepEqual(await filesIn(dir), expected, 'the oldest was evicted');
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
});

test('RenderLimit runs at most its limit at once, in order, and survives failures', async () => {
  const { RenderLimit } = await import('../services/scaling/render-limit.js');
  const limit = new RenderLimit(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const job = (n: number) => async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    order.push(n);
    if (n === 3) throw new Error('boom');
    return n;
  };
  const results = await Promise.allSettled(Array.from({ length: 8 }, (_, n) => limit.run(job(n))));
  assert.equal(peak, 2);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 7);
  assert.equal(order.length, 8);
  assert.equal(await limit.run(async () => 'after'), 'after', 'the failed run gave its slot back');
});
