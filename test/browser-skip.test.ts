/** The browser suites' skip rule (helpers/browser.ts): skipped without chromium on a developer's machine, never in CI. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { skipWithoutChromium } from './helpers/browser.js';

const missing = '/nonexistent/chromium-for-this-test';

test('with the browser there, nothing is skipped, in CI or not', () => {
  assert.equal(skipWithoutChromium({ CI: 'true' }, process.execPath), false);
  assert.equal(skipWithoutChromium({}, process.execPath), false);
});

test('without it: skipped (with the reason) outside CI, and a failure under CI=true', () => {
  assert.equal(skipWithoutChromium({}, missing), `no ${missing}`);
  assert.throws(() => skipWithoutChromium({ CI: 'true' }, missing), new RegExp(`${missing} is missing and CI=true`));
});
