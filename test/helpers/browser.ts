/**
 * A real browser for the web tests: playwright-core driving Debian's chromium
 * (`npx playwright install` cannot download browsers here). Screenshots go to
 * test-artifacts/ (gitignored) so a person can look at them.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(fileURLToPath(new URL('../..', import.meta.url)), 'test-artifacts');

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * For a browser suite's `skip` option: false when chromium is there; a reason to skip
 * on a developer's machine without it; under CI=true it throws, failing the run
 * instead of turning the browser tests into a green skip.
 */
export function skipWithoutChromium(env: NodeJS.ProcessEnv = process.env, browser = CHROMIUM): false | string {
  if (existsSync(browser)) return false;
  if (env.CI === 'true') throw new Error(`${browser} is missing and CI=true: the browser tests must run in CI (install chromium, or set CHROMIUM_PATH)`);
  return `no ${browser}`;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Saves `test-artifacts/<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Fails the test on any uncaught page error or console error, instead of letting them pass silently. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}
