/**
 * A command line that cannot run is one line, `hugemap: HUGEMAP_ERR_USAGE: ...`,
 * and exit 2, the same for every command; --help and --version still exit 0.
 */
import type { Command } from 'commander';
import { UsageError } from '../shared/errors.js';

export function withUsageErrors(command: Command): Command {
  return command
    .configureOutput({ outputError: (message, write) => write(usageLine(message)) })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

function usageLine(commanderMessage: string): string {
  const text = commanderMessage.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').trim();
  return `hugemap: ${new UsageError(text).code}: ${text}\n`;
}
