/** Every command's --help ends with worked examples; one helper keeps their layout the same. */
import type { Command } from 'commander';

export function withExamples(command: Command, examples: ReadonlyArray<readonly [command: string, what: string]>): Command {
  const lines = examples.flatMap(([cmd, what]) => [`  # ${what}`, `  $ ${cmd}`]);
  return command.addHelpText('after', `\nExamples:\n${lines.join('\n')}\n`);
}
