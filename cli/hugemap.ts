#!/usr/bin/env node
/**
 * The one executable. Subcommands:
 *   tile INPUT --out DIR   tile one image on this machine, no servers
 *   api                    the HTTP API
 *   worker                 BullMQ tiling worker(s)
 *   dev                    the whole stack on one machine, without Docker
 *   reconcile              settle images whose queue job went missing or failed unrecorded (once)
 *   s3 setup               bucket, anonymous read of public tiles only, uploads/ expiry, CORS
 */
import { Command } from 'commander';
import { tileCommand } from './commands/tile.js';
import { apiCommand } from './commands/api.js';
import { workerCommand } from './commands/worker.js';
import { devCommand } from './commands/dev.js';
import { reconcileCommand } from './commands/reconcile.js';
import { s3Command } from './commands/s3.js';

const program = new Command('hugemap')
  .description('Turn huge pictures into zoomable maps (Deep Zoom tiles) and serve them.')
  .showHelpAfterError()
  .addCommand(tileCommand())
  .addCommand(apiCommand())
  .addCommand(workerCommand())
  .addCommand(devCommand())
  .addCommand(reconcileCommand())
  .addCommand(s3Command());

await program.parseAsync(process.argv);
