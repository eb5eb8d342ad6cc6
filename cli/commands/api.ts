/**
 * `hugemap api`: the HTTP API. SIGTERM/SIGINT stop it gracefully (see
 * startApiServer); a second signal exits at once. The server code is loaded
 * only when this command runs, so `hugemap tile` never pays for it.
 */
import { Command, InvalidArgumentError } from 'commander';
import { withExamples } from '../help-examples.js';
import { runUntilSignal } from '../run-until-signal.js';
import { withUsageErrors } from '../usage-errors.js';

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

export function apiCommand(): Command {
  const command = new Command('api')
    .description('run the HTTP API: uploads, status, live events, tile origin')
    .option('--port <port>', 'listen on this port (default: $PORT or 8080)', portNumber)
    .option('--host <host>', 'listen on this address (default: $HOST or 0.0.0.0)')
    .action(async (opts: { port?: number; host?: string }) => {
      await runUntilSignal('api', async () => {
        const { loadConfig } = await import('../../shared/config.js');
        const { createLogger } = await import('../../shared/logger.js');
        const { startApiServer } = await import('../../services/api/server.js');
        const loaded = loadConfig();
        const config = { ...loaded, port: opts.port ?? loaded.port, host: opts.host ?? loaded.host };
        const logger = createLogger('hugemap-api', config.logLevel);
        const server = await startApiServer(config, { logger });
        process.stdout.write(`hugemap api listening on ${server.url}\n`);
        return server;
      });
    });
  return withExamples(withUsageErrors(command), [
    ['REDIS_URL=redis://queue:6379 MONGO_URL=mongodb://db:27017/hugemap S3_ENDPOINT=http://s3:9000 hugemap api', 'against your own Redis, MongoDB and S3 (configuration: docs/configuration.md)'],
    ['hugemap api --port 3000 --host 127.0.0.1', 'on another port, loopback only'],
  ]);
}
