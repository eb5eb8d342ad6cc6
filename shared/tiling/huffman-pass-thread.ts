/**
 * The thread behind HuffmanPass (huffman-pass.ts): gets rows of tile files,
 * re-codes each tile in place with optimal Huffman tables, answers with what it
 * did. Rows are done one after another, in the order they arrive, so answers
 * come back in that order.
 */
import { writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { HugemapError } from '../errors.js';
import { optimiseHuffman } from './jpeg-huffman-optimise.js';
import { readCompleteTile, type TileFile } from './tile-rows.js';

export interface RowRequest {
  files: TileFile[];
}

export type RowAnswer =
  | { ok: true; tiles: number; unchanged: number; bytesBefore: number; bytesAfter: number }
  | { ok: false; code: string; message: string };

async function rewrite(files: TileFile[]): Promise<RowAnswer> {
  const answer = { ok: true as const, tiles: 0, unchanged: 0, bytesBefore: 0, bytesAfter: 0 };
  for (const file of files) {
    const before = await readCompleteTile(file);
    const after = optimiseHuffman(before);
    answer.tiles++;
    answer.bytesBefore += before.length;
    if (after) {
      // Synchronous, like readCompleteTile's first read: a few KB into the page cache.
      writeFileSync(file.abs, after);
      answer.bytesAfter += after.length;
    } else {
      answer.unchanged++;
      answer.bytesAfter += before.length;
    }
  }
  return answer;
}

const port = parentPort;
if (port) {
  let queue = Promise.resolve();
  port.on('message', (request: RowRequest) => {
    queue = queue.then(async () => {
      let answer: RowAnswer;
      try {
        answer = await rewrite(request.files);
      } catch (err) {
        answer = { ok: false, code: err instanceof HugemapError ? err.code : 'HUGEMAP_ERR_INTERNAL', message: (err as Error).message };
      }
      port.postMessage(answer);
    });
  });
}
