/** How many test files test/run.ts runs at once (its comment says why one by default). */

/** HUGEMAP_TEST_CONCURRENCY when set (a whole number from 1), else 1. */
export function testConcurrency(env: NodeJS.ProcessEnv): number {
  const given = env.HUGEMAP_TEST_CONCURRENCY;
  if (given === undefined || given === '') return 1;
  if (!/^[1-9][0-9]*$/.test(given)) throw new Error(`HUGEMAP_TEST_CONCURRENCY must be a whole number from 1, got ${JSON.stringify(given)}`);
  return Number(given);
}
