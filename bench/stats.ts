/** Median and spread of repeated runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** Contender order for run `i`: rotated each run, so none always goes first (cold cache) or last. */
export function rotation<T>(items: readonly T[], i: number): T[] {
  if (items.length === 0) return [];
  const k = i % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
