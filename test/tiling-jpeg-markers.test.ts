/**
 * JpegReader's marker search (shared/tiling/jpeg-markers.ts): the same markers whatever the size of
 * its window, so a marker split between two reads is found; fill bytes, stuffed zeros and (inside
 * a scan) restart markers are skipped; markerInWindow answers only from what it holds.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { JpegReader } from '../shared/tiling/jpeg-markers.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = await tempDir('hugemap-jpeg-markers-');
after(() => tmp.remove());

// SOI, data with a stuffed 0xFF00, RST0, fill bytes before DQT, data, an 0xFF as the last byte of a long run, EOI.
const BYTES = Buffer.from([
  0xff, 0xd8, 0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xff, 0xdb, 0x78,
  ...new Array<number>(40).fill(0x9a), 0xff, 0x00, ...new Array<number>(5).fill(0xbc), 0xff, 0xd9,
]);

async function markers(bufferSize: number, inScan: boolean): Promise<number[]> {
  const path = tmp.file(`markers-${bufferSize}.jpg`);
  await writeFile(path, BYTES);
  const reader = new JpegReader(await open(path, 'r'), path, 0, bufferSize);
  try {
    const found: number[] = [];
    for (let code = await reader.nextMarker(inScan); code !== null; code = await reader.nextMarker(inScan)) found.push(code);
    return found;
  } finally {
    await reader.close();
  }
}

test('nextMarker finds the same markers with a window of 2 bytes as with one of 1 MB', async () => {
  for (const size of [2, 3, 5, 7, 1 << 20]) {
    assert.deepEqual(await markers(size, false), [0xd8, 0xd0, 0xdb, 0xd9], `window of ${size} bytes`);
    assert.deepEqual(await markers(size, true), [0xd8, 0xdb, 0xd9], `window of ${size} bytes, in a scan`);
  }
});

test('markerInWindow: the marker when the window holds it; undefined, and nothing lost, when it does not', async () => {
  const path = tmp.file('window.jpg');
  await writeFile(path, BYTES);
  const reader = new JpegReader(await open(path, 'r'), path, 0, 8);
  try {
    assert.equal(reader.markerInWindow(false), undefined, 'nothing read yet');
    await reader.ensure(8); // 0xff 0xd8 0x12 0xff 0x00 0x34 0xff 0xd0
    assert.equal(reader.markerInWindow(false), 0xd8);
    assert.equal(reader.markerInWindow(false), 0xd0, 'the stuffed zero is skipped');
    assert.equal(reader.markerInWindow(false), undefined, 'the window is used up');
    assert.equal(reader.position, 8);
    assert.equal(await reader.nextMarker(false), 0xdb, 'the search goes on from where the window ended, past the fill bytes');
    assert.equal(reader.position, 13);
  } finally {
    await reader.close();
  }
});
