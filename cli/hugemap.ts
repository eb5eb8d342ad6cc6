#!/usr/bin/env node
/**
 * The one executable (commands in program.ts):
 *   tile INPUT... --out DIR   tile images on this machine, no servers
 *   api                       the HTTP API
 *   worker                    BullMQ tiling worker(s)
 *   dev                       the whole stack on one machine, without Docker
 *   users, keys               accounts and API keys, straight in MongoDB (operators)
 *   reconcile                 settle images whose queue job went missing or failed unrecorded (once)
 *   s3 setup                  bucket, anonymous read of public tiles only, uploads/ expiry, CORS
 */
import { rerunWithProcessSettings } from './tile-process-settings.js';

// `hugemap tile` runs in a child with the worker's process settings (tile-process-settings.ts),
// decided before the rest of the program (sharp, libvips) is loaded: this process stays small.
const childStatus = process.argv[2] === 'tile' ? await rerunWithProcessSettings() : null;
if (childStatus !== null) process.exit(childStatus);
const { hugemapProgram } = await import('./program.js');
await hugemapProgram().parseAsync(process.argv);
