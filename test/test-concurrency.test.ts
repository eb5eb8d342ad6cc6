/** How test/run.ts spreads the test files over the cores (helpers/test-concurrency.ts). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { drivesBrowser, runsAlone, testConcurrency, testPhases } from './helpers/test-concurrency.js';

test('two files at a time by default', () => {
  assert.equal(testConcurrency({}), 2);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '' }), 2);
});

test('HUGEMAP_TEST_CONCURRENCY sets it; anything but a whole number from 1 is refused', () => {
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '1' }), 1);
  assert.equal(testConcurrency({ HUGEMAP_TEST_CONCURRENCY: '4' }), 4);
  for (const bad of ['0', '-1', '1.5', 'two', ' 2']) {
    assert.throws(() => testConcurrency({ HUGEMAP_TEST_CONCURRENCY: bad }), /HUGEMAP_TEST_CONCURRENCY must be a whole number from 1/);
  }
});

test('the files that drive chromium or say they run alone are run after the rest, one at a time', () => {
  const sources: Record<string, string> = {
    'test/a.test.ts': "import { startBrowser } from './helpers/browser.js';",
    'test/b.test.ts': "import { startTestStack } from './helpers/web-stack.js';",
    'test/c.test.ts': "// mentions helpers/browser.ts and 'npm test: runs alone' in a comment only\nimport { test } from 'node:test';",
    'test/d.test.ts': "import { launchChromium, type Page } from './helpers/browser.js';",
    'test/e.test.ts': "/** Disk full. */\n// npm test: runs alone (its waits)\nimport { test } from 'node:test';",
  };
  const phases = testPhases(Object.keys(sources), (file) => sources[file]!, 2);
  assert.deepEqual(phases, [
    { files: ['test/b.test.ts', 'test/c.test.ts'], concurrency: 2 },
    { files: ['test/a.test.ts', 'test/d.test.ts', 'test/e.test.ts'], concurrency: 1 },
  ]);
  assert.deepEqual(testPhases(['test/b.test.ts'], (file) => sources[file]!, 1), [{ files: ['test/b.test.ts'], concurrency: 1 }]);
});

test('the real browser and fault tests are found as such', () => {
  const read = (file: string) => readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
  assert.equal(drivesBrowser(read('web-viewer.test.ts')), true);
  assert.equal(drivesBrowser(read('iiif-mirador.test.ts')), true);
  assert.equal(drivesBrowser(read('api-images.test.ts')), false);
  assert.equal(drivesBrowser(read('test-concurrency.test.ts')), false);
  for (const file of ['reliability-disk-full.test.ts', 'reliability-db.test.ts', 'reliability-redis.test.ts', 'reliability-reconcile.test.ts', 'web-viewer.test.ts']) assert.equal(runsAlone(read(file)), true, file);
  for (const file of ['api-images.test.ts', 'test-concurrency.test.ts']) assert.equal(runsAlone(read(file)), false, file);
});
