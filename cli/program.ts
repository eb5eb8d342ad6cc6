/**
 * The `hugemap` command tree, apart from running it, so that tests can walk
 * every command (each one's help must end with examples).
 */
import { Command } from 'commander';
import { tileCommand } from './commands/tile.js';
import { apiCommand } from './commands/api.js';
import { workerCommand } from './commands/worker.js';
import { devCommand } from './commands/dev.js';
import { keysCommand, usersCommand } from './commands/accounts.js';
import { withExamples } from './help-examples.js';
import { packageVersion } from './package-version.js';

export function hugemapProgram(): Command {
  const program = new Command('hugemap')
    .description('Turn huge pictures into zoomable maps (Deep Zoom tiles) and serve them.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .addCommand(tileCommand())
    .addCommand(apiCommand())
    .addCommand(workerCommand())
    .addCommand(devCommand())
    .addCommand(usersCommand())
    .addCommand(keysCommand());
  return withExamples(program, [
    ['hugemap tile photo.jpg --out photo-map', 'tile one image on this machine, no servers'],
    ['hugemap dev', 'the whole service (web app, API, worker) on this machine'],
    ['hugemap dev --workers 4', 'the same with four worker processes'],
    ['hugemap help tile', 'every option of one command'],
  ]);
}
