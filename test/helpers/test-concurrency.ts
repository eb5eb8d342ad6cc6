/** How many test files test/run.ts runs at once (its comment says why two). */

/** HUGEMAP_TEST_CONCURRENCY when set (a whole number from 1), else 2, or 1 on a one-core machine. */
export function testConcurrency(env: NodeJS.ProcessEnv, cores: number): number {
  const given = env.HUGEMAP_TEST_CONCURRENCY;
  if (given === undefined || given === '') return Math.max(1, Math.min(2, cores));
  if (!/^[1-9][0-9]*$/.test(given)) throw new Error(`HUGEMAP_TEST_CONCURRENCY must be a whole number from 1, got ${JSON.stringify(given)}`);
  return Number(given);
}
