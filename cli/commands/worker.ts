import { Command } from 'commander';

export function workerCommand(): Command {
  return new Command('worker').description('(not yet implemented)').action(() => {
    process.stderr.write('hugemap worker: not yet implemented\n');
    process.exitCode = 2;
  });
}
