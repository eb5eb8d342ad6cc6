/** `hugemap worker`: BullMQ tiling worker(s); the pipeline is loaded only when this command runs. */
import { Command } from 'commander';
import { runUntilSignal } from '../run-until-signal.js';

export function workerCommand(): Command {
  return new Command('worker')
    .description('run BullMQ tiling worker(s): fetch -> tile -> upload to S3, status in MongoDB (configured by environment)')
    .action(async () => {
      await runUntilSignal('worker', async () => {
        const { loadConfig } = await import('../../shared/config.js');
        const { startWorker } = await import('../../workers/start-worker.js');
        return startWorker(loadConfig());
      });
    });
}
