/** How many test files test/run.ts runs at once (helpers/test-concurrency.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testConcurrency } from './helpers/test-concurrency.js';

test('one file at a time by default', () => {
  assert.equal(testConcurrency({}), 1);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '' }), 1);
});

test('HUGEMAP_TEST_CONCURRENCY sets it; anything but a whole number from 1 is refused', () => {
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '1' }), 1);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '2' }), 2);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '4' }), 4);
  for (const bad of ['0', '-1', '1.5', 'two', ' 2']) {
    assert.throws(() => testConcurrency({ HUGEMAP_TEST_CONCURRENCY: bad }), /HUGEMAP_TEST_CONCURRENCY must be a whole number from 1/);
  }
});
