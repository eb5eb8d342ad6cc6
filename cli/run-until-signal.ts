/**
 * Runs a long-lived part (api, worker) until SIGTERM or SIGINT, then closes it
 * gracefully; a second signal exits at once. Start-up errors (bad
 * configuration, unreachable servers) print one line with their code, never a
 * stack, and exit 1.
 */
import { toHugemapError } from '../shared/errors.js';

export async function runUntilSignal(name: string, start: () => Promise<{ close(): Promise<void> }>): Promise<void> {
  let running: { close(): Promise<void> };
  try {
    running = await start();
  } catch (err) {
    const e = toHugemapError(err);
    process.stderr.write(`hugemap ${name}: ${e.code}: ${e.message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`hugemap ${name}: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`hugemap ${name}: ${signal} received, shutting down\n`);
    try {
      await running.close();
      process.exit(0);
    } catch (err) {
      process.stderr.write(`hugemap ${name}: shutdown failed: ${toHugemapError(err).message}\n`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
}
