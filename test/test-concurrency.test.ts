/** How many test files test/run.ts runs at once (helpers/test-concurrency.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConcurrency } from './helpers/test-concurrency.js';

test('two files at a time by default, one on a one-core machine', () => {
  assert.equal(testConcurrency({}, 2), 2);
  assert.equal(testConcurrency({}, 16), 2);
  assert.equal(testConcurrency({}, 1), 1);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '' }, 4), 2);
});

test('HUGEMAP_TEST_CONCURRENCY sets it, whatever the cores; anything but a whole number from 1 is refused', () => {
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '1' }, 2), 1);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '4' }, 2), 4);
  for (const bad of ['0', '-1', '1.5', 'two', ' 2']) {
    assert.throws(() => testConcurrency({ HUGEMAP_TEST_CONCURRENCY: bad }, 2), /HUGEMAP_TEST_CONCURRENCY must be a whole number from 1/);
  }
});
