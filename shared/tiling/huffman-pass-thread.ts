/**
 * The thread behind HuffmanPass (huffman-pass.ts), one per process and shared
 * by every pass: gets rows of tile files tagged with their pass, re-codes each
 * tile in place with optimal Huffman tables, and answers each row (or with the
 * error). Rows are done one after another, in the order they arrive, so each
 * pass gets its answers in the order it sent its rows.
 *
 * A pass that is abandoned (its job failed or was cancelled, its folder perhaps
 * deleted) sends `cancel`: its rows still queued are answered at once without
 * being touched, so a dead job costs the next one no time.
 */
import { writeFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { HugemapError } from '../errors.js';
import { optimiseHuffman } from './jpeg-huffman-optimise.js';
import { readCompleteTile, type TileFile } from './tile-rows.js';

export type ThreadRequest = { kind: 'row'; pass: number; files: TileFile[] } | { kind: 'cancel'; pass: number };

export type RowAnswer = { pass: number } & ({ ok: true } | { ok: false; code: string; message: string });

async function rewrite(files: TileFile[]): Promise<void> {
  for (const file of files) {
    const after = optimiseHuffman(await readCompleteTile(file));
    // Synchronous, like readCompleteTile's first read: a few KB into the page cache.
    if (after) writeFileSync(file.abs, after);
  }
}

const port = parentPort;
if (port) {
  const cancelled = new Set<number>();
  let queue = Promise.resolve();
  port.on('message', (request: ThreadRequest) => {
    if (request.kind === 'cancel') {
      cancelled.add(request.pass);
      // Its last queued row has been answered once this runs: the id is never seen again.
      queue = queue.then(() => void cancelled.delete(request.pass));
      return;
    }
    queue = queue.then(async () => {
      let answer: RowAnswer = { pass: request.pass, ok: true };
      try {
        if (!cancelled.has(request.pass)) await rewrite(request.files);
      } catch (err) {
        answer = { pass: request.pass, ok: false, code: err instanceof HugemapError ? err.code : 'HUGEMAP_ERR_INTERNAL', message: (err as Error).message };
      }
      port.postMessage(answer);
    });
  });
}
