/**
 * TileRowUploader against the real S3 server, through the fault proxy that
 * counts every request: rows uploaded as they arrive, the checkpoint window,
 * resuming after a crash without re-uploading, retries, refusals.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { HugemapError } from '../shared/errors.js';
import { S3Store } from '../shared/storage/s3-store.js';
import { IMMUTABLE_CACHE_CONTROL, ROW_WINDOW, TileRowUploader, type TileRowCheckpoint } from '../shared/storage/tile-row-uploader.js';
import { deepZoomLevels, tileCount, type PyramidLevel } from '../shared/tiling/pyramid.js';
import { rowFiles, type TileRow } from '../shared/tiling/tile-rows.js';
import { startFaultProxy, type Fault, type FaultProxy } from './helpers/fault-proxy.js';
import { waitFor } from './helpers/test-config.js';
import { uniqueName, useTestServers } from './helpers/servers.js';

const servers = await useTestServers();
const bucket = uniqueName('tile-rows');
const TILER = 'test-tiler/1';
// 2000 x 1300: levels 0-11, the top three with 8x6, 4x3 and 2x2 tiles.
const levels = deepZoomLevels(2000, 1300);
const total = tileCount(levels);
let work: string;
let tilesDir: string;
let proxy: FaultProxy;
let failing: (r: { method: string; key: string; attempt: number }) => Fault | null = () => null;
/** Every request that reached the proxy and was let through, in arrival order. */
const arrivals: Array<{ method: string; key: string }> = [];

const keyOf = (path: string) => decodeURIComponent(path.split('/').slice(2).join('/'));

/** The rows in an order like dzsave's: top-level rows first, lower levels interleaved as they fill. */
function dzsaveOrder(root: string): TileRow[] {
  const top = levels.at(-1)!;
  const rows: TileRow[] = [];
  const emitted = new Map<number, number>(levels.map((l) => [l.level, 0]));
  const emit = (level: PyramidLevel, upTo: number) => {
    for (let r = emitted.get(level.level)!; r < Math.min(upTo, level.rows); r++) {
      rows.push({ level: level.level, row: r, files: rowFiles(root, 'image_files', level, r, 'jpeg') });
      emitted.set(level.level, r + 1);
    }
  };
  for (let r = 0; r < top.rows; r++) {
    emit(top, r + 1);
    // A level below gets a row for every two rows of the level above it.
    for (let l = levels.length - 2, fraction = (r + 1) / 2; l >= 0; l--, fraction /= 2) emit(levels[l]!, Math.floor(fraction));
  }
  for (const level of [...levels].reverse()) emit(level, level.rows);
  return rows;
}

function storeVia(url: string, maxAttempts = 5): S3Store {
  return new S3Store({ ...servers.s3, endpoint: url, bucket, forcePathStyle: true }, { maxAttempts, requestTimeoutMs: 10_000 });
}

function uploaderFor(store: S3Store, prefix: string, checkpoint: TileRowCheckpoint | null, persist: (cp: TileRowCheckpoint) => Promise<void>, tiler = TILER): TileRowUploader {
  return new TileRowUploader(store, { keyPrefix: prefix, levels, tiler, checkpoint, persist, concurrency: 4 });
}

function successfulPuts(prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [path, n] of proxy.countSuccessfulPuts(`/${bucket}/${prefix}`)) counts.set(keyOf(path), n);
  return counts;
}

/** The bytes of every tile on disk: what a complete upload sends. */
async function tileBytes(): Promise<number> {
  let bytes = 0;
  for (const row of dzsaveOrder(tilesDir)) for (const f of row.files) bytes += (await stat(f.abs)).size;
  return bytes;
}

function allTileKeys(prefix: string): string[] {
  return dzsaveOrder(tilesDir).flatMap((r) => r.files.map((f) => prefix + f.rel)).sort();
}

async function assertEveryTileOnce(prefix: string): Promise<void> {
  const counts = successfulPuts(prefix);
  assert.deepEqual([...counts.keys()].sort(), allTileKeys(prefix));
  for (const [key, n] of counts) assert.equal(n, 1, `${key} PUT ${n} times`);
  const direct = storeVia(servers.s3.endpoint);
  for (const row of dzsaveOrder(tilesDir).slice(0, 6)) {
    for (const f of row.files) {
      const got = await direct.client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + f.rel }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), await readFile(f.abs), f.rel);
      assert.equal(got.ContentType, 'image/jpeg');
      assert.equal(got.CacheControl, IMMUTABLE_CACHE_CONTROL);
    }
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'hugemap-tile-rows-'));
  tilesDir = join(work, 'image_files');
  for (const row of dzsaveOrder(tilesDir)) {
    for (const f of row.files) {
      await mkdir(join(f.abs, '..'), { recursive: true });
      // Random bytes ending like a JPEG (FF D9): the uploader checks a tile's end marker before sending it.
      await writeFile(f.abs, Buffer.concat([Buffer.from([0xff, 0xd8]), randomBytes(200 + Math.floor(Math.random() * 3000)), Buffer.from([0xff, 0xd9])]));
    }
  }
  proxy = await startFaultProxy({
    target: servers.s3.endpoint,
    shouldFail: (r) => {
      const key = keyOf(r.path);
      const fault = failing({ method: r.method, key, attempt: r.n });
      if (!fault && key !== '') arrivals.push({ method: r.method, key });
      return fault;
    },
  });
  await storeVia(servers.s3.endpoint).ensureBucket();
});

after(async () => {
  await proxy.close();
  await rm(work, { recursive: true, force: true });
});

describe('TileRowUploader', () => {
  test('every tile once with its headers; a checkpoint exists before the first PUT; rows counted per level', async () => {
    const prefix = 'images/plain/';
    const events: string[] = [];
    const saved: TileRowCheckpoint[] = [];
    const firstArrival = arrivals.length;
    const uploader = uploaderFor(storeVia(proxy.url), prefix, null, async (cp) => {
      saved.push(cp);
      events.push(`persist after ${successfulPuts(prefix).size} PUTs`);
    });
    for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
    await uploader.drain();

    assert.equal(events[0], 'persist after 0 PUTs', 'the first checkpoint is written before any tile goes up');
    assert.deepEqual(saved[0], { tiler: TILER, rows: levels.map(() => 0) });
    assert.deepEqual(saved.at(-1), { tiler: TILER, rows: levels.map((l) => l.rows) });
    assert.deepEqual(uploader.stats, { uploaded: total, skipped: 0, checked: 0, bytes: await tileBytes() });
    assert.equal(arrivals.slice(firstArrival).filter((a) => a.method === 'HEAD').length, 0, 'a fresh upload asks S3 nothing');
    for (let i = 1; i < saved.length; i++) {
      saved[i]!.rows.forEach((n, level) => assert.ok(n >= saved[i - 1]!.rows[level]!, 'a level count never goes back'));
    }
    await assertEveryTileOnce(prefix);
  });

  test('queued rows of smaller levels go up before full-size rows that arrived earlier', async () => {
    const prefix = 'images/small-first/';
    const top = levels.at(-1)!;
    const firstArrival = arrivals.length;
    // One PUT at a time, and every row queued before the first checkpoint lets any start.
    const uploader = new TileRowUploader(storeVia(proxy.url), { keyPrefix: prefix, levels, tiler: TILER, checkpoint: null, persist: async () => undefined, concurrency: 1 });
    for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
    await uploader.drain();
    const order = arrivals.slice(firstArrival).filter((a) => a.method === 'PUT').map((a) => Number(/image_files\/(\d+)\//.exec(a.key)![1]));
    const firstTop = order.indexOf(top.level);
    // Levels below top-1 fit in two rows each, so their whole window is open at once.
    const small = order.filter((level) => level < top.level - 1).length;
    assert.equal(small, levels.slice(0, -2).reduce((sum, l) => sum + l.rows * l.cols, 0));
    assert.ok(order.slice(0, firstTop).filter((level) => level < top.level - 1).length === small, `every tile of levels 0-${top.level - 2} before the first full-size tile (order: ${order.slice(0, 20).join(',')})`);
    await assertEveryTileOnce(prefix);
  });

  test(`no row starts ${ROW_WINDOW} or more rows past its level's persisted checkpoint`, async () => {
    const prefix = 'images/window/';
    const top = levels.at(-1)!;
    let persistedTop = 0;
    let release: () => void = () => undefined;
    const violations: string[] = [];
    failing = (r) => {
      const m = /^images\/window\/image_files\/(\d+)\/\d+_(\d+)\.jpeg$/.exec(r.key);
      if (r.method === 'PUT' && m && Number(m[1]) === top.level && Number(m[2]) >= persistedTop + ROW_WINDOW) violations.push(r.key);
      return null;
    };
    /** Checkpoints held so far, and the last one let through: one is waiting while `gates > released`. */
    let gates = 0;
    let released = 0;
    let persisted: number[] = levels.map(() => -ROW_WINDOW);
    /** Tiles the window allows under the last persisted checkpoint: all a correct uploader can send until the next one. */
    const allowed = () => levels.reduce((sum, l) => sum + Math.min(l.rows, Math.max(0, persisted[l.level]! + ROW_WINDOW)) * l.cols, 0);
    const uploadedWhileHeld: Array<{ uploaded: number; allowed: number }> = [];
    let settled = false;
    try {
      const uploader = uploaderFor(storeVia(proxy.url), prefix, null, async (cp) => {
        // Persisting the top level's progress is slow: the uploader must wait for it, not run ahead.
        if (cp.rows[top.level]! > persistedTop) {
          const gate = new Promise<void>((resolve) => (release = resolve));
          gates++;
          await gate;
        }
        persistedTop = cp.rows[top.level]!;
        persisted = [...cp.rows];
      });
      for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
      const drained = uploader.drain().finally(() => (settled = true));
      // Each time the slow checkpoint holds, let the uploader send everything the window allows (every row
      // was handed over at the start), so it has every chance to run ahead; only then let the checkpoint through.
      while (!settled) {
        await waitFor('the uploader to fill its window, or finish', async () => (settled || (gates > released && uploader.stats.uploaded >= allowed()) ? true : undefined), 60_000, 10).catch((err) => { throw new Error(`${err.message}: gates ${gates}, released ${released}, uploaded ${uploader.stats.uploaded}, allowed ${allowed()}, persisted ${persisted.join(',')}`); });
        if (settled) break;
        uploadedWhileHeld.push({ uploaded: uploader.stats.uploaded, allowed: allowed() });
        released = gates;
        release();
      }
      await drained;
    } finally {
      failing = () => null;
    }
    // The window lets at most ROW_WINDOW top-level rows complete per checkpoint.
    assert.ok(uploadedWhileHeld.length >= Math.ceil(top.rows / ROW_WINDOW), `the checkpoint held the window ${uploadedWhileHeld.length} times`);
    assert.deepEqual(uploadedWhileHeld.filter((h) => h.uploaded !== h.allowed), [], 'exactly the window uploaded while the checkpoint held');
    assert.deepEqual(violations, []);
    await assertEveryTileOnce(prefix);
  });

  test('killed mid-way and resumed from the last saved checkpoint: nothing missing, nothing PUT twice, only the window checked', async () => {
    const prefix = 'images/resume/';
    // The "process dies" in the middle of a top-level row: that row's fourth tile can never be stored
    // (no retries), so the upload stops with its first three tiles in S3 but the row not complete.
    // Those three are stored and never checkpointed, whatever the timing, so the resume has real work.
    const top = levels.at(-1)!;
    const doomed = `${prefix}image_files/${top.level}/3_2.jpeg`;
    failing = (r) => (r.key === doomed ? 'reset' : null);
    let saved: TileRowCheckpoint | null = null;
    try {
      const first = uploaderFor(storeVia(proxy.url, 1), prefix, null, async (cp) => void (saved = cp));
      for (const row of dzsaveOrder(tilesDir)) first.row(row);
      await assert.rejects(first.drain());
    } finally {
      failing = () => null;
    }
    const stored = successfulPuts(prefix).size;
    const checkpoint = saved as TileRowCheckpoint | null;
    assert.ok(checkpoint !== null && checkpoint.rows.some((n) => n > 0), 'some rows were checkpointed');
    const inCheckpoint = levels.reduce((sum, l) => sum + checkpoint.rows[l.level]! * l.cols, 0);
    assert.ok(stored > inCheckpoint, `tiles beyond the checkpoint (${stored} stored, ${inCheckpoint} checkpointed) make the resume non-trivial`);

    const headsBefore = arrivals.filter((a) => a.method === 'HEAD').length;
    const second = uploaderFor(storeVia(proxy.url), prefix, checkpoint, async () => undefined);
    for (const row of dzsaveOrder(tilesDir)) second.row(row);
    await second.drain();

    assert.equal(second.stats.uploaded, total - stored);
    assert.equal(second.stats.skipped, stored);
    const windowTiles = levels.reduce((sum, l) => sum + Math.max(0, Math.min(ROW_WINDOW, l.rows - checkpoint.rows[l.level]!)) * l.cols, 0);
    assert.equal(second.stats.checked, windowTiles, 'exactly the window rows are checked');
    assert.equal(arrivals.filter((a) => a.method === 'HEAD').length - headsBefore, windowTiles);
    await assertEveryTileOnce(prefix);
  });

  test("a checkpoint written by another tiler is not trusted: every tile goes up again", async () => {
    const prefix = 'images/other-tiler/';
    const complete = uploaderFor(storeVia(proxy.url), prefix, null, async () => undefined);
    for (const row of dzsaveOrder(tilesDir)) complete.row(row);
    await complete.drain();
    const before = successfulPuts(prefix);
    assert.deepEqual([...before.keys()].sort(), allTileKeys(prefix), 'every tile is in S3 before');
    const uploader = uploaderFor(storeVia(proxy.url), prefix, { tiler: 'older-tiler/0', rows: levels.map((l) => l.rows) }, async () => undefined);
    for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
    await uploader.drain();
    assert.equal(uploader.stats.uploaded, total);
    const afterPuts = successfulPuts(prefix);
    for (const key of allTileKeys(prefix)) assert.equal(afterPuts.get(key), (before.get(key) ?? 0) + 1, key);
  });

  test('a complete checkpoint of the same tiler: nothing is sent at all', async () => {
    const prefix = 'images/plain/';
    const seen = arrivals.length;
    const uploader = uploaderFor(storeVia(proxy.url), prefix, { tiler: TILER, rows: levels.map((l) => l.rows) }, async () => undefined);
    for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
    await uploader.drain();
    assert.deepEqual(uploader.stats, { uploaded: 0, skipped: total, checked: 0, bytes: 0 });
    assert.equal(arrivals.length, seen);
  });

  test('injected 503s and connection resets are retried and every tile arrives once', async () => {
    const prefix = 'images/flaky/';
    let injected = 0;
    failing = (r) => {
      if (!r.key.startsWith(prefix) || r.method !== 'PUT') return null;
      const n = Number(/(\d+)_(\d+)\.jpeg$/.exec(r.key)?.[1] ?? 0);
      const fault: Fault | null = r.attempt === 1 && n % 3 === 0 ? 'error503' : r.attempt <= 2 && n % 4 === 1 ? 'reset' : null;
      if (fault) injected += 1;
      return fault;
    };
    try {
      const uploader = uploaderFor(storeVia(proxy.url), prefix, null, async () => undefined);
      for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
      await uploader.drain();
    } finally {
      failing = () => null;
    }
    assert.ok(injected >= 20, `faults were injected (${injected})`);
    await assertEveryTileOnce(prefix);
  });

  test('a failed checkpoint write stops the upload and drain() rejects with it', async () => {
    const uploader = uploaderFor(storeVia(proxy.url), 'images/persist-fails/', null, async (cp) => {
      if (cp.rows.some((n) => n > 0)) throw new Error('MongoDB is gone');
    });
    for (const row of dzsaveOrder(tilesDir)) uploader.row(row);
    await assert.rejects(uploader.drain(), /MongoDB is gone/);
    assert.ok(uploader.stats.uploaded < total, 'it stopped early');
  });

  test('a tile that never gets its end marker fails the upload with HUGEMAP_ERR_INTERNAL', async () => {
    const dir = join(work, 'broken', 'image_files');
    const level = levels[0]!;
    const [file] = rowFiles(dir, 'image_files', level, 0, 'jpeg');
    await mkdir(join(file!.abs, '..'), { recursive: true });
    await writeFile(file!.abs, randomBytes(500)); // cut off mid-write, as it were
    const uploader = uploaderFor(storeVia(proxy.url), 'images/broken/', null, async () => undefined);
    uploader.row({ level: level.level, row: 0, files: [file!] });
    await assert.rejects(uploader.drain(), (err: unknown) => err instanceof HugemapError && err.code === 'HUGEMAP_ERR_INTERNAL' && /incomplete/.test(err.message));
    assert.equal(successfulPuts('images/broken/').size, 0);
  });
});
