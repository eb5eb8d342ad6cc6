/**
 * `hugemap api`: the HTTP API. SIGTERM/SIGINT stop it gracefully (see
 * startApiServer); a second signal exits at once.
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../../shared/config.js';
import { toHugemapError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { startApiServer } from '../../services/api/server.js';

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

export function apiCommand(): Command {
  return new Command('api')
    .description('run the HTTP API: uploads, status, live events, tile origin')
    .option('--port <port>', 'listen on this port (default: $PORT or 8080)', portNumber)
    .option('--host <host>', 'listen on this address (default: $HOST or 0.0.0.0)')
    .action(async (opts: { port?: number; host?: string }) => {
      let config: Config;
      try {
        const loaded = loadConfig();
        config = { ...loaded, port: opts.port ?? loaded.port, host: opts.host ?? loaded.host };
      } catch (err) {
        const e = toHugemapError(err);
        process.stderr.write(`hugemap api: ${e.code}: ${e.message}\n`);
        process.exitCode = 2;
        return;
      }
      const logger = createLogger('hugemap-api', config.logLevel);
      const server = await startApiServer(config, { logger }).catch((err: unknown) => {
        const e = toHugemapError(err);
        logger.fatal({ err }, 'api failed to start');
        process.stderr.write(`hugemap api: ${e.code}: ${e.message}\n`);
        process.exit(1);
      });
      process.stdout.write(`hugemap api listening on ${server.url}\n`);

      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
