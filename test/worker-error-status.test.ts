/**
 * errorForStatus (workers/tile-worker.ts): what a failed job's status says. The
 * worker's own paths (its copy of the original, files in the job's folder) are
 * not shown to whoever uploaded the image; the code and the rest stay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CorruptImageError, HugemapError } from '../shared/errors.js';
import { jobPaths } from '../workers/job-context.js';
import { errorForStatus } from '../workers/tile-worker.js';

const paths = jobPaths('/var/lib/hugemap/work', 'AbCdEfGhIjKlMnOp');

test('the original is named as such, wherever libvips quotes it', () => {
  const err = new CorruptImageError(paths.originalPath, `VipsJpeg: "${paths.originalPath}" premature end of JPEG image`);
  assert.deepEqual(errorForStatus(err, paths), {
    code: 'HUGEMAP_ERR_CORRUPT_IMAGE',
    message: 'the original image is damaged or truncated: VipsJpeg: "the original image" premature end of JPEG image',
  });
});

test('other files of the job are named relative to its folder; other messages pass unchanged', () => {
  const tile = `${paths.outDir}/image_files/12/3_4.jpeg`;
  const err = new HugemapError('HUGEMAP_ERR_INTERNAL', `tile ${tile} is still incomplete (10 bytes) after its row was reported finished`);
  assert.equal(errorForStatus(err, paths).message, 'tile out/image_files/12/3_4.jpeg is still incomplete (10 bytes) after its row was reported finished');
  const plain = new HugemapError('HUGEMAP_ERR_STORAGE', 'PutObject images/x/y.jpeg failed: SlowDown (HTTP 503)');
  assert.deepEqual(errorForStatus(plain, paths), { code: 'HUGEMAP_ERR_STORAGE', message: plain.message });
});
