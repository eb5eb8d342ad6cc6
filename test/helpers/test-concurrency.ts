/** How test/run.ts spreads the test files over the cores (its comment says why). */

/** HUGEMAP_TEST_CONCURRENCY when set (a whole number from 1), else 2. */
export function testConcurrency(env: NodeJS.ProcessEnv): number {
  const given = env.HUGEMAP_TEST_CONCURRENCY;
  if (given === undefined || given === '') return 2;
  if (!/^[1-9][0-9]*$/.test(given)) throw new Error(`HUGEMAP_TEST_CONCURRENCY must be a whole number from 1, got ${JSON.stringify(given)}`);
  return Number(given);
}

/** A file drives chromium when it imports the browser helper (test/helpers/browser.ts). */
export function drivesBrowser(source: string): boolean {
  return /^import [^;]* from '\.\/helpers\/browser\.js';/m.test(source);
}

export interface TestPhase {
  files: string[];
  concurrency: number;
}

/**
 * The files as phases run one after another: those that do not drive a browser `concurrency` at
 * a time, then those that do, one at a time (a browser test waits on chromium's rendering, which
 * another file beside it slowed past a test's timeout once). Empty phases are left out.
 */
export function testPhases(files: string[], readSource: (file: string) => string, concurrency: number): TestPhase[] {
  const browser = files.filter((file) => drivesBrowser(readSource(file)));
  const rest = files.filter((file) => !browser.includes(file));
  return [
    { files: rest, concurrency },
    { files: browser, concurrency: 1 },
  ].filter((phase) => phase.files.length > 0);
}
