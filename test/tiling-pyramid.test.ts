import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deepZoomLevels, dziXml, firstViewLevels, levelsComplete, maxLevelFor, tileCount, tileSizeAt } from '../shared/tiling/pyramid.js';

test('1x1 is a single level of one tile', () => {
  assert.deepEqual(deepZoomLevels(1, 1), [{ level: 0, width: 1, height: 1, cols: 1, rows: 1 }]);
});

test('256x256: levels 0..8, one tile each', () => {
  const levels = deepZoomLevels(256, 256);
  assert.equal(levels.length, 9);
  assert.deepEqual(levels.at(-1), { level: 8, width: 256, height: 256, cols: 1, rows: 1 });
  assert.equal(tileCount(levels), 9);
});

test('257x513 rounds every halving up', () => {
  const levels = deepZoomLevels(257, 513);
  assert.equal(levels.length, 11); // ceil(log2(513)) = 10
  assert.deepEqual(levels[10], { level: 10, width: 257, height: 513, cols: 2, rows: 3 });
  assert.deepEqual(levels[9], { level: 9, width: 129, height: 257, cols: 1, rows: 2 });
  assert.deepEqual(levels[8], { level: 8, width: 65, height: 129, cols: 1, rows: 1 });
  assert.deepEqual(levels[0], { level: 0, width: 1, height: 1, cols: 1, rows: 1 });
  assert.equal(tileCount(levels), 6 + 2 + 9);
});

test('1000x1 keeps height 1 on every level', () => {
  const levels = deepZoomLevels(1000, 1);
  assert.equal(levels.length, 11);
  assert.ok(levels.every((l) => l.height === 1 && l.rows === 1));
  assert.deepEqual(levels.map((l) => l.width), [1, 2, 4, 8, 16, 32, 63, 125, 250, 500, 1000]);
  assert.equal(levels[10]?.cols, 4);
});

test('very wide panorama 20000x300', () => {
  const levels = deepZoomLevels(20000, 300);
  assert.equal(levels.length, 16); // 2^15 = 32768 >= 20000 > 16384
  assert.deepEqual(levels[15], { level: 15, width: 20000, height: 300, cols: 79, rows: 2 });
  assert.deepEqual(levels[14], { level: 14, width: 10000, height: 150, cols: 40, rows: 1 });
  assert.deepEqual(levels[6], { level: 6, width: 40, height: 1, cols: 1, rows: 1 });
});

test('level size is ceil(size / 2^(max - level)) and max level is ceil(log2(max side))', () => {
  for (const [w, h] of [[3, 5], [4097, 17], [65536, 2], [123457, 98765]] as const) {
    const levels = deepZoomLevels(w, h);
    const max = Math.ceil(Math.log2(Math.max(w, h)));
    assert.equal(maxLevelFor(w, h), max);
    for (const l of levels) {
      assert.equal(l.width, Math.ceil(w / 2 ** (max - l.level)));
      assert.equal(l.height, Math.ceil(h / 2 ** (max - l.level)));
    }
  }
});

test('edge tiles are cut to the image', () => {
  const top = deepZoomLevels(257, 513)[10]!;
  assert.deepEqual(tileSizeAt(top, 0, 0), { width: 256, height: 256 });
  assert.deepEqual(tileSizeAt(top, 1, 2), { width: 1, height: 1 });
  assert.deepEqual(tileSizeAt(top, 0, 2), { width: 256, height: 1 });
});

test('bad dimensions are refused', () => {
  assert.throws(() => deepZoomLevels(0, 10), RangeError);
  assert.throws(() => deepZoomLevels(10.5, 10), RangeError);
  assert.throws(() => deepZoomLevels(10, 10, 0), RangeError);
});

test('dziXml is a Deep Zoom descriptor', () => {
  assert.equal(
    dziXml(257, 513, 256, 0, 'png'),
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="png" Overlap="0" TileSize="256">\n' +
      '  <Size Height="513" Width="257"/>\n' +
      '</Image>\n',
  );
});

test('first view: levels up to the first one at least 1024 px on its longer side', () => {
  const levels = firstViewLevels(deepZoomLevels(20480, 11520));
  assert.deepEqual(levels.at(-1), { level: 11, width: 1280, height: 720, cols: 5, rows: 3 });
  assert.equal(levels.length, 12);
  // A small image: all levels.
  assert.equal(firstViewLevels(deepZoomLevels(600, 400)).length, 11);
  // The worker's test of its upload checkpoint against them: every row of every such level.
  const rows = deepZoomLevels(20480, 11520).map((l) => (l.level <= 11 ? l.rows : 0));
  assert.equal(levelsComplete(rows, levels), true);
  rows[11] = 2;
  assert.equal(levelsComplete(rows, levels), false);
  assert.equal(levelsComplete([], levels), false);
});
