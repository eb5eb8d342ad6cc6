/**
 * removeTree (shared/remove-tree.ts): removes what `rm -rf` would, leaves what links point to,
 * and does it without V8's heap growing with the number of files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTree } from '../shared/remove-tree.js';

const scratch = await mkdtemp(join(tmpdir(), 'hugemap-remove-tree-test-'));
test.after(() => rm(scratch, { recursive: true, force: true }));

test('removes a nested tree, folders of more names than one batch included, and leaves the targets of its links', async () => {
  const root = join(scratch, 'tree');
  const outside = join(scratch, 'outside');
  await mkdir(join(root, 'image_files', '12'), { recursive: true });
  await mkdir(join(root, 'empty'));
  await mkdir(outside);
  await writeFile(join(outside, 'keep.txt'), 'kept');
  // 700 names: three batches of 256 and the folder read again after each.
  await Promise.all(Array.from({ length: 700 }, (_, i) => writeFile(join(root, 'image_files', '12', `${i}_0.jpeg`), String(i))));
  await writeFile(join(root, 'image.dzi'), '<Image/>');
  await symlink(outside, join(root, 'link-to-folder'));
  await symlink(join(outside, 'keep.txt'), join(root, 'image_files', 'link-to-file'));
  await symlink(join(scratch, 'nowhere'), join(root, 'dangling'));

  await removeTree(root);
  assert.equal(existsSync(root), false);
  assert.equal(await readFile(join(outside, 'keep.txt'), 'utf8'), 'kept', 'a link is removed, not what it points to');
});

test('a missing path is not an error; a single file or link is removed', async () => {
  await removeTree(join(scratch, 'not-there'));
  const file = join(scratch, 'one.txt');
  await writeFile(file, 'x');
  await removeTree(file);
  assert.equal(existsSync(file), false);
});

test('the heap does not grow with the number of files removed (fs.rm\'s recursive mode: about 22 MB for these 10,000)', () => {
  const script = fileURLToPath(new URL('./helpers/remove-tree-heap.ts', import.meta.url));
  const grewMb = Number(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], { encoding: 'utf8' }));
  assert.ok(grewMb < 4, `V8's heap grew by ${grewMb} MB`);
});
