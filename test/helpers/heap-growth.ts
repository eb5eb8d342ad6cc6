/**
 * Run as a child process by test/worker-process-settings.test.ts: a live set of about 20 MB, then
 * three million short-lived objects held just long enough to be promoted out of the young
 * generation, as a worker's upload requests are. Prints V8's largest heapUsed in MiB. With the
 * argument `limit`, first applies the worker's cap on heap growth.
 */
import { limitHeapGrowth } from '../../workers/process-settings.js';

if (process.argv[2] === 'limit') limitHeapGrowth();
const live = Array.from({ length: 200_000 }, (_, i) => ({ i, label: `${'x'.repeat(64)}${i}` }));
const ring: unknown[] = new Array(50_000);
let largest = 0;
for (let n = 0; n < 3_000_000; n++) {
  ring[n % ring.length] = { n, values: [n, n + 1, n + 2], label: `y${n}` };
  if (n % 10_000 === 0) largest = Math.max(largest, process.memoryUsage().heapUsed);
}
process.stdout.write(`${(largest / 1048576).toFixed(1)} ${live.length}\n`);
