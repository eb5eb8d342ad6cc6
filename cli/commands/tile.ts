import { Command } from 'commander';

export function tileCommand(): Command {
  return new Command('tile').description('(not yet implemented)').action(() => {
    process.stderr.write('hugemap tile: not yet implemented\n');
    process.exitCode = 2;
  });
}
