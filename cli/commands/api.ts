import { Command } from 'commander';

export function apiCommand(): Command {
  return new Command('api').description('(not yet implemented)').action(() => {
    process.stderr.write('hugemap api: not yet implemented\n');
    process.exitCode = 2;
  });
}
