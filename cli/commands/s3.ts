/**
 * `hugemap s3 setup`: prepares the bucket for production (shared/storage/s3-setup.ts):
 * created if missing, a policy that makes only tiles of public and unlisted images
 * anonymously readable, a lifecycle rule for abandoned uploads/, CORS for the viewer.
 * Prints what it applied as JSON. Idempotent; S3_SETUP=true does the same when the API starts.
 */
import { Command } from 'commander';
import { runOnce } from '../run-once.js';

export function s3Command(): Command {
  const s3 = new Command('s3').description('object storage administration');
  s3.command('setup')
    .description('create the bucket if missing; apply its policy (public tiles only), uploads/ lifecycle and CORS')
    .action(() =>
      runOnce('s3 setup', async () => {
        const { loadConfig } = await import('../../shared/config.js');
        const { S3Store } = await import('../../shared/storage/s3-store.js');
        const { setupBucket } = await import('../../shared/storage/s3-setup.js');
        const config = loadConfig();
        const store = new S3Store(config.s3);
        try {
          process.stdout.write(`${JSON.stringify(await setupBucket(store, config))}\n`);
        } finally {
          store.close();
        }
      }),
    );
  return s3;
}
