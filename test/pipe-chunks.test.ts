/**
 * pipeChunks (shared/pipe-chunks.ts): a pipe's bytes, in order, read into one reused buffer; a
 * reader that leaves early closes the pipe, so its writer's next write fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { once } from 'node:events';
import { pipeChunks } from '../shared/pipe-chunks.js';
import { vipsFfi } from '../shared/tiling/vips-ffi.js';

/** A pipe: its read end's descriptor and a socket writing into its write end. */
function openPipe(): { readEnd: number; writer: Socket } {
  const vips = vipsFfi();
  assert.ok(vips, 'sharp\'s libvips loads through koffi');
  const fds = new Int32Array(2);
  assert.ok(vips.openPipe(fds));
  return { readEnd: fds[0]!, writer: new Socket({ fd: fds[1]!, readable: false, writable: true }) };
}

const pattern = (bytes: number) => Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

test('every byte in order, each chunk a view of the same buffer, more than one chunk', async () => {
  const { readEnd, writer } = openPipe();
  const data = pattern(3 * 1024 * 1024 + 123);
  writer.end(data);
  const copies: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for await (const chunk of pipeChunks(readEnd, 64 * 1024)) {
    assert.ok(chunk.length > 0 && chunk.length <= 64 * 1024);
    buffers.add(chunk.buffer);
    copies.push(Buffer.from(chunk)); // the chunk itself is overwritten by the next read
  }
  assert.ok(copies.length > 1, `${copies.length} chunks`);
  assert.equal(buffers.size, 1, 'one buffer for every chunk: nothing for the collector');
  assert.ok(Buffer.concat(copies).equals(data));
});

test('a chunk is not overwritten while it is out: the next read waits for the reader', async () => {
  const { readEnd, writer } = openPipe();
  const data = pattern(1024 * 1024);
  writer.end(data);
  let at = 0;
  for await (const chunk of pipeChunks(readEnd, 16 * 1024)) {
    const before = Buffer.from(chunk);
    await new Promise((resolve) => setTimeout(resolve, 1)); // the writer has more ready meanwhile
    assert.ok(chunk.equals(before), 'unchanged while held');
    assert.ok(chunk.equals(data.subarray(at, at + chunk.length)));
    at += chunk.length;
  }
  assert.equal(at, data.length);
});

test('leaving early closes the pipe: the writer\'s next write fails', async () => {
  const { readEnd, writer } = openPipe();
  writer.write(pattern(64 * 1024));
  for await (const chunk of pipeChunks(readEnd, 1024)) {
    assert.equal(chunk.length, 1024);
    break;
  }
  writer.write(pattern(256 * 1024));
  const [err] = (await once(writer, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'EPIPE');
});
