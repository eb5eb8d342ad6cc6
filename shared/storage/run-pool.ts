/**
 * Bounded concurrency for uploads: enough requests in flight to hide latency,
 * few enough that memory (one buffer per request) and sockets stay bounded.
 */

/** Runs `work` over `items` with at most `limit` at once; the first failure stops new work and is rethrown once in-flight work settles. */
export async function runPool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
