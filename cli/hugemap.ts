#!/usr/bin/env node
/**
 * The one executable (commands in program.ts):
 *   tile INPUT... --out DIR   tile images on this machine, no servers
 *   api                       the HTTP API
 *   worker                    BullMQ tiling worker(s)
 *   dev                       the whole stack on one machine, without Docker
 *   users, keys               accounts and API keys, straight in MongoDB (operators)
 */
import { hugemapProgram } from './program.js';

await hugemapProgram().parseAsync(process.argv);
