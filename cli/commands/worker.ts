import { Command } from 'commander';
import { loadConfig } from '../../shared/config.js';
import { startWorker } from '../../workers/start-worker.js';
import { runUntilSignal } from '../run-until-signal.js';

export function workerCommand(): Command {
  return new Command('worker')
    .description('Run BullMQ tiling worker(s): fetch -> tile -> upload to S3, status in MongoDB (configured by environment).')
    .action(async () => {
      await runUntilSignal('worker', async () => startWorker(loadConfig()));
    });
}
