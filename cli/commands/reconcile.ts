/**
 * `hugemap reconcile`: one pass of the reconciler (workers/reconciler.ts) by
 * hand, e.g. after Redis lost its data: images queued or processing whose job
 * is missing, failed or completed are queued again or marked failed. Prints
 * what it did as one JSON line; exits 0.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runOnce } from '../run-once.js';
import { withExamples } from '../help-examples.js';
import { withUsageErrors } from '../usage-errors.js';

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of milliseconds');
  return n;
}

export function reconcileCommand(): Command {
  const command = new Command('reconcile')
    .description('settle images whose job is missing, failed or completed in the queue (re-queue, or record the failure); runs once')
    .option('--grace-ms <ms>', 'only images unchanged for this long (default: $RECONCILE_GRACE_MS or 120000)', milliseconds)
    .action((opts: { graceMs?: number }) =>
      runOnce('reconcile', async () => {
        const { loadConfig } = await import('../../shared/config.js');
        const { createLogger } = await import('../../shared/logger.js');
        const { StatusStore } = await import('../../shared/status-store.js');
        const { S3Store } = await import('../../shared/storage/s3-store.js');
        const { createTileQueue } = await import('../../shared/queue.js');
        const { reconcileOnce } = await import('../../workers/reconciler.js');
        const config = loadConfig();
        const logger = createLogger('hugemap-reconcile', config.logLevel);
        const store = await StatusStore.connect(config.mongoUrl, { timeoutMs: config.mongoTimeoutMs });
        const queue = createTileQueue(config.redisUrl, config.queuePrefix);
        const s3 = new S3Store(config.s3);
        try {
          const report = await reconcileOnce({ config, store, queue, s3, logger }, { graceMs: opts.graceMs });
          process.stdout.write(`${JSON.stringify(report)}\n`);
        } finally {
          await Promise.allSettled([queue.close(), store.close()]);
          s3.close();
        }
      }),
    );
  return withExamples(withUsageErrors(command), [
    ['hugemap reconcile', 'after Redis lost its data: queue again what has no job (same settings as the worker)'],
    ['hugemap reconcile --grace-ms 0', 'include images changed a moment ago'],
  ]);
}
