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

/**
 * A file runs alone when it drives chromium or says so on a line of its own,
 * `// npm test: runs alone (why)`: the fault tests whose servers are switched off, filled up or
 * timed out for a moment, where a second file's load can stretch a moment past a wait.
 */
export function runsAlone(source: string): boolean {
  return drivesBrowser(source) || /^\/\/ npm test: runs alone\b/m.test(source);
}

export interface TestPhase {
  files: string[];
  concurrency: number;
}

/**
 * The files as phases run one after another: the rest `concurrency` at a time, then those that run
 * alone (runsAlone), one at a time (a browser test waits on chromium's rendering, which another
 * file beside it slowed past a test's timeout once). Empty phases are left out.
 */
export function testPhases(files: string[], readSource: (file: string) => string, concurrency: number): TestPhase[] {
  const alone = files.filter((file) => runsAlone(readSource(file)));
  const rest = files.filter((file) => !alone.includes(file));
  return [
    { files: rest, concurrency },
    { files: alone, concurrency: 1 },
  ].filter((phase) => phase.files.length > 0);
}
