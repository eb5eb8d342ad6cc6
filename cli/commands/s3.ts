/**
 * `hugemap s3 setup`: prepares the bucket for production (shared/storage/s3-setup.ts):
 * created if missing, a policy that makes only tiles of public and unlisted images
 * anonymously readable, a lifecycle rule for abandoned uploads/, CORS for the viewer.
 * Prints what it applied as JSON. Idempotent; S3_SETUP=true does the same when the API starts.
 */
import { Command } from 'commander';
import { runOnce } from '../run-once.js';
import { withExamples } from '../help-examples.js';

export function s3Command(): Command {
  const s3 = new Command('s3').description('object storage administration');
  const setup = s3
    .command('setup')
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
  withExamples(setup, [
    ['S3_ENDPOINT=https://s3.example.org S3_BUCKET=hugemap PUBLIC_BASE_URL=https://maps.example.org hugemap s3 setup', 'prepare the bucket the API and workers use'],
    ['UPLOADS_EXPIRE_DAYS=7 hugemap s3 setup', 'keep abandoned uploads a week'],
  ]);
  return withExamples(s3, [
    ['hugemap s3 setup', 'create the bucket if missing; apply its policy, lifecycle and CORS'],
    ['hugemap s3 setup --help', 'what it applies, and the settings it reads'],
  ]);
}
