#!/usr/bin/env node
/**
 * The one executable. Subcommands:
 *   tile INPUT... --out DIR   tile images on this machine, no servers
 *   api                       the HTTP API
 *   worker                    BullMQ tiling worker(s)
 *   dev                       the whole stack on one machine, without Docker
 *   users, keys               accounts and API keys, straight in MongoDB (operators)
 */
import { Command } from 'commander';
import { tileCommand } from './commands/tile.js';
import { apiCommand } from './commands/api.js';
import { workerCommand } from './commands/worker.js';
import { devCommand } from './commands/dev.js';
import { keysCommand, usersCommand } from './commands/accounts.js';
import { withExamples } from './help-examples.js';
import { packageVersion } from './package-version.js';

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

withExamples(program, [
  ['hugemap tile photo.jpg --out photo-map', 'tile one image on this machine, no servers'],
  ['hugemap dev', 'the whole service (web app, API, worker) on this machine'],
  ['hugemap dev --workers 4', 'the same with four worker processes'],
  ['hugemap help tile', 'every option of one command'],
]);

await program.parseAsync(process.argv);
