#!/usr/bin/env node
/**
 * The one executable. Subcommands:
 *   tile INPUT --out DIR   tile one image on this machine, no servers
 *   api                    the HTTP API
 *   worker                 BullMQ tiling worker(s)
 *   dev                    the whole stack on one machine, without Docker
 *   users, keys            accounts and API keys, straight in MongoDB (operators)
 */
import { Command } from 'commander';
import { tileCommand } from './commands/tile.js';
import { apiCommand } from './commands/api.js';
import { workerCommand } from './commands/worker.js';
import { devCommand } from './commands/dev.js';
import { keysCommand, usersCommand } from './commands/accounts.js';

const program = new Command('hugemap')
  .description('Turn huge pictures into zoomable maps (Deep Zoom tiles) and serve them.')
  .showHelpAfterError()
  .addCommand(tileCommand())
  .addCommand(apiCommand())
  .addCommand(workerCommand())
  .addCommand(devCommand())
  .addCommand(usersCommand())
  .addCommand(keysCommand());

await program.parseAsync(process.argv);
