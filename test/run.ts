/**
 * `npm test`: starts Redis, FerretDB and MinIO once (each unless its URL is
 * already in the environment), hands their addresses to every test file
 * through the environment, and runs all test/**\/*.test.ts with Node's runner
 * in two phases: most files two at a time (each file has its own database,
 * bucket, queue prefix and work dir), then the browser tests and the fault
 * tests that say so (`// npm test: runs alone`) one at a time. Two at a time is
 * what the 2-core machine's time allows (about 440 s for the whole suite
 * against 500-600 s one by one); those run alone because, beside another file,
 * a browser test once waited past its timeout for chromium and a disk-full
 * test past its wait for the failed attempt (docs/testing.md).
 * HUGEMAP_TEST_CONCURRENCY=N sets the first phase's N (1: everything one by one).
 *
 *   node --import tsx test/run.ts                        all test files
 *   node --import tsx test/run.ts test/a.test.ts ...     only these
 *   node --import tsx test/run.ts --test-name-pattern=x  extra flags go to node --test
 *
 * Exits with the first failing phase's exit code (every phase runs); stops the servers on every path.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServers, type TestServers } from './helpers/servers.js';
import { testConcurrency, testPhases } from './helpers/test-concurrency.js';
import { removeTree } from '../shared/remove-tree.js';

const testDir = fileURLToPath(new URL('.', import.meta.url));
const repoDir = join(testDir, '..');

function findTestFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules' && entry.name !== 'fixtures') found.push(...findTestFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

/** Set by Ctrl-C or SIGTERM: no further phase starts. */
let interrupted = false;

function runNodeTest(files: string[], extraFlags: string[], env: NodeJS.ProcessEnv, concurrency: number): Promise<number> {
  // Node 20 picks the TAP reporter when stdout is not a terminal (CI, pipes);
  // ask for spec explicitly so its readable summary is always printed.
  const args = ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...extraFlags, ...files];
  const child = spawn(process.execPath, args, { cwd: repoDir, env, stdio: 'inherit' });
  // Signals are passed on (Ctrl-C also reaches the child directly, through
  // the terminal's process group); either way we wait for the child to end so
  // that main() stops the servers.
  const forward = (signal: NodeJS.Signals) => {
    interrupted = true;
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const stopForwarding = () => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  };
  return new Promise((resolve) => {
    child.on('exit', stopForwarding);
    child.on('error', (err) => {
      console.error(`test/run.ts: cannot start node --test: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const chosen = args.filter((a) => a.endsWith('.test.ts'));
  const extraFlags = args.filter((a) => !a.endsWith('.test.ts'));
  const files = (chosen.length > 0 ? chosen : findTestFiles(testDir).map((f) => relative(repoDir, f))).sort();
  let concurrency: number;
  try {
    concurrency = testConcurrency(process.env);
  } catch (err) {
    console.error(`test/run.ts: ${(err as Error).message}`);
    return 1;
  }
  if (files.length === 0) {
    console.error('test/run.ts: no test files found');
    return 1;
  }

  // The AWS SDK warns in every process that its Node 20 support ends in
  // 2027; once per test file, that buries the results. Set before any client
  // exists, here and (through the environment) in the test processes.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  let servers: TestServers;
  try {
    servers = await startTestServers();
  } catch (err) {
    console.error(`test/run.ts: could not start the test servers (build them with tools/build-test-servers.sh)\n${(err as Error).message}`);
    return 1;
  }
  const scratch = mkdtempSync(join(tmpdir(), 'hugemap-test-run-'));
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Every temporary folder the suites make (work dirs, caches, fixtures) goes under this one,
      // which goes after the run: a suite that forgets one leaves nothing behind in /tmp.
      TMPDIR: scratch,
      REDIS_URL: servers.redisUrl,
      MONGO_URL: servers.mongoUrl,
      S3_ENDPOINT: servers.s3.endpoint,
      S3_REGION: servers.s3.region,
      S3_ACCESS_KEY_ID: servers.s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: servers.s3.secretAccessKey,
    };
    const phases = testPhases(files, (file) => readFileSync(join(repoDir, file), 'utf8'), concurrency);
    const plan = phases.map((phase) => `${phase.files.length} ${phase.files.length === 1 ? 'file' : 'files'} ${phase.concurrency} at a time`).join(', then ');
    console.error(`test/run.ts: ${files.length} test files: ${plan}; redis ${servers.redisUrl}, mongodb ${servers.mongoUrl}, s3 ${servers.s3.endpoint}`);
    let exitCode = 0;
    for (const phase of phases) {
      if (interrupted) break;
      const code = await runNodeTest(phase.files, extraFlags, env, phase.concurrency);
      if (exitCode === 0) exitCode = code;
    }
    return exitCode;
  } finally {
    await removeTree(scratch);
    await servers.stop();
  }
}

process.exitCode = await main();
