/**
 * The official IIIF Image API validator (PyPI iiif-validator, installed by
 * tools/install-iiif-validator.sh) against the real stack, with its own test
 * image (test/fixtures/iiif-validator-*.png, from the IIIF image-validator
 * repository) uploaded and tiled: every level 2 test, then the optional tests
 * for what info.json claims beyond it. Without the validator the test is
 * skipped with a message, except under CI=true, where it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { startImageService, upload, waitUntilDone, type ImageService } from './helpers/image-service.js';

/** IIIF_VALIDATE names another iiif-validate.py; by default the one tools/install-iiif-validator.sh installs. */
const VALIDATE = process.env.IIIF_VALIDATE ?? path.join(process.env.HUGEMAP_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'hugemap-tools'), 'iiif-validator', 'bin', 'iiif-validate.py');
const installed = existsSync(VALIDATE);
const required = process.env.CI === 'true';
const skip = !installed && !required && `the IIIF validator is not installed (${VALIDATE}); run tools/install-iiif-validator.sh`;

/**
 * What info.json claims beyond level 2, by the validator's test names. Not format_webp: in
 * iiif-validator 1.0.5 it calls urllib.urlopen, which Python 3 lacks, so it fails against any
 * server (test/iiif.test.ts checks that .webp answers are WebP).
 */
const OPTIONAL = ['rot_full_non90', 'rot_region_non90', 'size_up', 'linkheader_canonical', 'linkheader_profile', 'quality_grey', 'quality_bitonal', 'format_png', 'jsonld', 'cors', 'baseurl_redirect', 'rot_mirror', 'rot_mirror_180'];

const servers = await useTestServers();

interface Run {
  code: number;
  output: string;
}

function validate(url: string, id: string, args: string[]): Promise<Run> {
  const { host } = new URL(url);
  return new Promise((resolve) => {
    execFile(VALIDATE, ['--server', host, '--prefix', 'iiif/3', '--identifier', id, '--version', '3.0', ...args], { timeout: 300_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** "[n] test NAME PASS|FAIL" lines, and the closing count. */
function results(run: Run): { passed: string[]; failed: string[]; done: string | undefined } {
  const passed = [...run.output.matchAll(/\] test (\S+) PASS/g)].map((m) => m[1]!);
  const failed = [...run.output.matchAll(/\] test (\S+) FAIL/g)].map((m) => m[1]!);
  return { passed, failed, done: /Done \(\d+ tests, \d+ failures\)/.exec(run.output)?.[0] };
}

describe('official IIIF Image API validator', { skip }, () => {
  let svc: ImageService;
  let id: string;

  before(async () => {
    assert.ok(installed, `CI=true and the IIIF validator is missing: ${VALIDATE} (tools/install-iiif-validator.sh installs it)`);
    // The validator asks for about a hundred distinct renders in a minute: more than the default per-client limit.
    svc = await startImageService(servers, 'iiif-validator', { RATE_LIMIT_RENDERS_PER_MINUTE: '10000' });
    const image = await readFile(new URL('./fixtures/iiif-validator-67352ccc-d1b0-11e1-89ae-279075081939.png', import.meta.url));
    id = (await upload(svc.url, image, 'validator.png')).json.id;
    await waitUntilDone(svc.url, id);
  });
  after(() => svc?.close());

  test('level 2: every test passes', async () => {
    const run = await validate(svc.url, id, ['--level', '2']);
    const r = results(run);
    assert.deepEqual(r.failed, [], run.output);
    assert.equal(run.code, 0, run.output);
    assert.ok(r.passed.length >= 25, `only ${r.passed.length} tests ran:\n${run.output}`);
    for (const t of ['info_json', 'region_percent', 'size_bwh', 'rot_full_basic', 'format_png', 'quality_color']) assert.ok(r.passed.includes(t), `${t} ran and passed`);
  });

  test('the optional tests for what info.json claims beyond level 2 pass', async () => {
    const run = await validate(svc.url, id, OPTIONAL.flatMap((t) => ['--test', t]));
    const r = results(run);
    assert.deepEqual(r.failed, [], run.output);
    assert.equal(run.code, 0, run.output);
    assert.deepEqual([...r.passed].sort(), [...OPTIONAL].sort(), run.output);
  });
});
