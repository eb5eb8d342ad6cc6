/**
 * The thread behind HuffmanPass (huffman-pass.ts): gets rows of tile files,
 * re-codes each tile in place with optimal Huffman tables, answers when done
 * (or with the error). Rows are done one after another, in the order they arrive, so answers
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

export type RowAnswer = { ok: true } | { ok: false; code: string; message: string };

async function rewrite(files: TileFile[]): Promise<void> {
  for (const file of files) {
    const after = optimiseHuffman(await readCompleteTile(file));
    // Synchronous, like readCompleteTile's first read: a few KB into the page cache.
    if (after) writeFileSync(file.abs, after);
  }
}

const port = parentPort;
if (port) {
  let queue = Promise.resolve();
  port.on('message', (request: RowRequest) => {
    queue = queue.then(async () => {
      let answer: RowAnswer = { ok: true };
      try {
        await rewrite(request.files);
      } catch (err) {
        answer = { ok: false, code: err instanceof HugemapError ? err.code : 'HUGEMAP_ERR_INTERNAL', message: (err as Error).message };
      }
      port.postMessage(answer);
    });
  });
}
