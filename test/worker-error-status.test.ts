/**
 * errorForStatus (workers/tile-worker.ts): what a failed job's status says. The
 * worker's own paths (its copy of the original, files in the job's folder) are
 * not shown to whoever uploaded the image; the code and the rest stay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CorruptImageError, DbUnavailableError, DiskFullError, HugemapError, StorageError } from '../shared/errors.js';
import { jobPaths } from '../workers/job-context.js';
import { errorForStatus } from '../workers/job-failure.js';

const paths = jobPaths('/var/lib/hugemap/work', 'AbCdEfGhIjKlMnOp');

test('the original is named as such, wherever libvips quotes it', () => {
  const err = new CorruptImageError(paths.originalPath, `VipsJpeg: "${paths.originalPath}" premature end of JPEG image`);
  assert.deepEqual(errorForStatus(err, paths), {
    code: 'HUGEMAP_ERR_CORRUPT_IMAGE',
    message: 'the original image is damaged or truncated: VipsJpeg: "the original image" premature end of JPEG image',
  });
});

test('other files of the job are named relative to its folder in a bad input\'s message', () => {
  const tile = `${paths.outDir}/image_files/12/3_4.jpeg`;
  const err = new CorruptImageError('the original image', `tile ${tile} could not be decoded`);
  assert.equal(errorForStatus(err, paths).message, 'the original image is damaged or truncated: tile out/image_files/12/3_4.jpeg could not be decoded');
});

test('failures of our own servers show their code and a plain sentence, never a host, port or path', () => {
  const cases: Array<[HugemapError, string]> = [
    [new StorageError('S3 PUT images/x/y.jpeg failed: Error: connect ECONNREFUSED 10.0.3.7:9000'), 'the object storage (S3) failed'],
    [new DbUnavailableError(new Error('connect ECONNREFUSED 10.0.3.8:27017')), 'the database was unavailable'],
    [new DiskFullError(new Error(`ENOSPC: no space left on device, write '${paths.outDir}/x'`)), "the worker's scratch disk was full"],
    [new HugemapError('HUGEMAP_ERR_INTERNAL', `tile ${paths.outDir}/image_files/12/3_4.jpeg is incomplete; redis 10.0.3.9:6379`), 'processing failed with an internal error'],
  ];
  for (const [err, sentence] of cases) {
    const shown = errorForStatus(err, paths);
    assert.equal(shown.code, err.code);
    assert.ok(shown.message.startsWith(sentence), shown.message);
    assert.doesNotMatch(shown.message, /\d+\.\d+\.\d+\.\d+|:\d{2,5}\b|\/var\/lib/);
    assert.match(shown.message, /tried again later$/);
    assert.match(errorForStatus(err, paths, { final: true }).message, /retry the image once the cause is fixed$/);
  }
});
