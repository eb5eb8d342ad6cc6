/**
 * The CLI's surface apart from tiling itself: --version, every command's help
 * ends with examples, and the pieces its output is made of (progress meter and
 * line, human sizes, where several maps go, dev's auth decision and ready
 * text), checked with a fake clock rather than by timing a run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatBytes, formatDuration } from '../cli/human-format.js';
import { ProgressMeter, plainLine } from '../cli/tile-progress.js';
import { planTargets } from '../cli/commands/tile.js';
import { metricsLines, readyText } from '../cli/commands/dev.js';
import { loadConfig } from '../shared/config.js';
import { devAuthMode, isLoopbackHost } from '../services/dev/dev-auth.js';
import { signalSequence } from '../cli/signal-sequence.js';
import type { TileProgress } from '../shared/tiling/index.js';
import type { Command } from 'commander';
import { hugemapProgram } from '../cli/program.js';

const repoDir = fileURLToPath(new URL('..', import.meta.url));

function hugemap(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', ...args], { cwd: repoDir, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('hugemap --version and -V print the version in package.json', () => {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-V']) {
    const run = hugemap(flag);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${version}\n`);
  }
});

/** Every command below `command`, itself included. */
function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** The help text as `--help` prints it, hooks (addHelpText) included. */
function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s) });
  command.outputHelp();
  return text;
}

function assertExamplesLast(name: string, help: string): void {
  const examples = help.split('\nExamples:\n')[1];
  assert.ok(examples, `${name} has no Examples: block`);
  const commands = examples.split('\n').filter((l) => l.startsWith('  $ '));
  assert.ok(commands.length >= 2, `${name}: ${commands.length} examples`);
  for (const line of commands) assert.match(line, /\b(hugemap|npm run dev)\b/, name);
  assert.doesNotMatch(examples, /\n(Options|Commands|Arguments):/, `${name}: examples come last`);
}

test('every command\'s help, subcommands included, ends with an Examples: block of hugemap command lines', () => {
  const names: string[] = [];
  for (const command of allCommands(hugemapProgram())) {
    const name = command.parent ? `${command.parent.name()} ${command.name()}` : command.name();
    names.push(name);
    assertExamplesLast(name, helpOf(command));
  }
  assert.ok(names.includes('hugemap tile') && names.includes('hugemap dev') && names.includes('users add'), names.join(', '));
});

test('hugemap tile --help and hugemap dev --help, run as a user runs them, end with examples', () => {
  for (const args of [['tile', '--help'], ['dev', '--help']]) {
    const run = hugemap(...args);
    assert.equal(run.code, 0, `${args.join(' ')}: ${run.stderr}`);
    assertExamplesLast(args.join(' '), run.stdout);
  }
  assert.match(hugemap('tile', '--help').stdout, /--json/);
  assert.match(hugemap('dev', '--help').stdout, /--workers <n> .*\(default: 1\)/);
  assert.doesNotMatch(hugemap('tile', '--help').stdout, /--progress-interval/, 'the test-only option stays hidden');
});

test('a command line that cannot run is one HUGEMAP_ERR_USAGE line and exit 2, for dev and api as for tile', () => {
  for (const [args, message] of [
    [['dev', '--workers', '0'], /--workers <n>' argument '0' is invalid\. expected a number of workers from 1 to 32/],
    [['dev', '--workers', '33'], /argument '33' is invalid/],
    [['api', '--port', 'x'], /--port <port>' argument 'x' is invalid/],
  ] as const) {
    const run = hugemap(...args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^hugemap: HUGEMAP_ERR_USAGE: [^\n]+\n$/);
    assert.match(run.stderr, message);
  }
});

function report(stage: TileProgress['stage'], tilesDone: number, extra: Partial<TileProgress> = {}): TileProgress {
  return { stage, tilesDone, tilesTotal: 1000, levelsDone: 0, levels: 12, pixels: 50_000_000, ...extra };
}

test('progress meter: no rate or ETA until it can be measured, then both from the tiling rate; never NaN', () => {
  let now = 10_000;
  const meter = new ProgressMeter(() => now);
  assert.equal(meter.view(), undefined, 'nothing before the first report');
  meter.update(report('probe', 0));
  let v = meter.view()!;
  assert.deepEqual([v.percent, v.megapixelsPerSecond, v.etaSeconds], [0, undefined, undefined]);
  assert.equal(plainLine(v, 'a.jpg'), 'hugemap: 0% probe 0/1,000 tiles, 0/12 levels, -- MP/s, ETA -- (a.jpg)');

  now += 3_000; // a long prepare stage does not count as tiling time
  meter.update(report('tile', 0));
  now += 2_000;
  meter.update(report('tile', 250, { levelsDone: 3 }));
  v = meter.view()!;
  assert.equal(v.percent, 25);
  assert.equal(v.megapixelsPerSecond, 6.25); // a quarter of 50 MP in 2 s
  assert.equal(v.etaSeconds, 6); // three quarters left at 12.5 % a second
  assert.equal(plainLine(v, 'a.jpg'), 'hugemap: 25% tile 250/1,000 tiles, 3/12 levels, 6.3 MP/s, ETA 6s (a.jpg)');

  now += 6_000;
  meter.update(report('tile', 1000, { levelsDone: 12 }));
  now += 4_000; // the last tiles are written; the Huffman pass and thumbnail take their time
  v = meter.view()!;
  assert.equal(v.percent, 99, '100 only once the result is published');
  assert.equal(v.megapixelsPerSecond, 6.25, 'rate measured up to the last tile, not through the pause');
  assert.equal(v.etaSeconds, undefined);
  assert.match(plainLine(v, 'a.jpg'), /, ETA -- \(a\.jpg\)$/);

  v = meter.view(true)!;
  assert.equal(v.percent, 100);
  assert.equal(plainLine(v, 'a.jpg'), 'hugemap: 100% done 1,000/1,000 tiles, 12/12 levels, 3.3 MP/s, took 15s (a.jpg)');
});

test('human sizes and durations', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(6058), '6.06 kB');
  assert.equal(formatBytes(37_600_000), '37.6 MB');
  assert.equal(formatBytes(512_000_000), '512 MB');
  assert.equal(formatBytes(1_234_000_000), '1.23 GB');
  assert.equal(formatDuration(7.4), '7s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(Number.NaN), '--');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '--');
});

test('where maps go: one input into --out itself, several into --out/<name>/, and a clash of names is refused', () => {
  assert.deepEqual(planTargets(['a.jpg'], 'maps'), [{ input: 'a.jpg', out: 'maps' }]);
  assert.deepEqual(planTargets(['x/a.jpg', 'y/b.tif'], 'maps'), [
    { input: 'x/a.jpg', out: 'maps/a' },
    { input: 'y/b.tif', out: 'maps/b' },
  ]);
  assert.throws(() => planTargets(['x/a.jpg', 'y/a.png'], 'maps'), { code: 'HUGEMAP_ERR_USAGE', message: /x\/a\.jpg and y\/a\.png would both go to maps\/a/ });
});

test('dev auth: open on loopback unless AUTH_MODE says otherwise; required elsewhere, where open is refused', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org', '10.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
  assert.equal(devAuthMode(undefined, '127.0.0.1'), 'open');
  assert.equal(devAuthMode('required', '127.0.0.1'), 'required');
  assert.equal(devAuthMode('open', 'localhost'), 'open');
  assert.equal(devAuthMode(undefined, '0.0.0.0'), 'required');
  assert.equal(devAuthMode('required', '0.0.0.0'), 'required');
  assert.throws(() => devAuthMode('open', '0.0.0.0'), { code: 'HUGEMAP_ERR_CONFIG', message: /AUTH_MODE=open is refused on --host 0\.0\.0\.0/ });
});

test('dev ready text: the ready line first, auth mode, then the five addresses last', () => {
  const text = readyText('http://127.0.0.1:8080', 'open', 3, '/data');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'hugemap dev: ready at http://127.0.0.1:8080');
  assert.match(text, /^ {2}auth: open: /m);
  assert.match(text, /^ {2}3 workers; /m);
  assert.deepEqual(lines.slice(-5).map((l) => l.trim().split(/:\s+(?=http)/)), [
    ['web app', 'http://127.0.0.1:8080/'],
    ['gallery', 'http://127.0.0.1:8080/gallery'],
    ['queue dashboard', 'http://127.0.0.1:8080/admin/queues'],
    ['API', 'http://127.0.0.1:8080/api/v1/images'],
    ['API reference', 'http://127.0.0.1:8080/api/docs'],
  ]);
  const metrics = metricsLines(loadConfig({ METRICS_PORT: '9090', WORKER_METRICS_PORT: '9100' }), '127.0.0.1', 3);
  assert.equal(
    metrics,
    '  metrics: http://127.0.0.1:9090/metrics (api)\n' +
      '  metrics: http://127.0.0.1:9100/metrics, /healthz (worker-1; worker-i on port 9100 + i - 1, up to 9102)\n',
  );
  const withMetrics = readyText('http://127.0.0.1:8080', 'open', 3, '/data', metrics).trimEnd().split('\n');
  assert.equal(withMetrics[0], 'hugemap dev: ready at http://127.0.0.1:8080');
  assert.ok(withMetrics.indexOf('  metrics: http://127.0.0.1:9090/metrics (api)') > 0);
  assert.deepEqual(withMetrics.slice(-5), lines.slice(-5), 'the addresses stay last');
  assert.equal(metricsLines(loadConfig({}), '127.0.0.1', 2), '', 'no metrics ports, no lines');

  const required = readyText('http://0.0.0.0:8080', 'required', 1, '/d');
  assert.match(required, /^ {2}auth: required: /m);
  assert.match(required, /^ {2}1 worker; /m);
});

test('signals: the first stops gracefully, its copy within the window is ignored, a later one means now', () => {
  let now = 0;
  const next = signalSequence(1000, () => now);
  assert.equal(next(), 'first');
  now = 5; // the same Ctrl-C relayed by npm
  assert.equal(next(), 'repeat');
  now = 999;
  assert.equal(next(), 'repeat');
  now = 1000;
  assert.equal(next(), 'again');
  now = 60_000;
  assert.equal(next(), 'again');
});
