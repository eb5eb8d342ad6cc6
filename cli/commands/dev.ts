import { Command } from 'commander';

export function devCommand(): Command {
  return new Command('dev').description('(not yet implemented)').action(() => {
    process.stderr.write('hugemap dev: not yet implemented\n');
    process.exitCode = 2;
  });
}
