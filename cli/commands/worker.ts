/** `hugemap worker`: BullMQ tiling worker(s); the pipeline is loaded only when this command runs. */
import { Command } from 'commander';
import { withExamples } from '../help-examples.js';
import { runUntilSignal } from '../run-until-signal.js';

export function workerCommand(): Command {
  const command = new Command('worker')
    .description('run BullMQ tiling worker(s): fetch -> tile -> upload to S3, status in MongoDB (configured by environment)')
    .action(async () => {
      await runUntilSignal('worker', async () => {
        const { loadConfig } = await import('../../shared/config.js');
        const { startWorker } = await import('../../workers/start-worker.js');
        return startWorker(loadConfig());
      });
    });
  return withExamples(command, [
    ['REDIS_URL=redis://queue:6379 MONGO_URL=mongodb://db:27017/hugemap S3_ENDPOINT=http://s3:9000 hugemap worker', 'take jobs from the queue the API fills (same settings as the API)'],
    ['WORKER_CONCURRENCY=2 hugemap worker', 'two jobs at once in this process (more machines: start more workers)'],
  ]);
}
