/**
 * Rewrites a progressive JPEG as a baseline one in bounded memory, so libvips
 * can then decode it top to bottom instead of holding every DCT coefficient
 * of the image (879 MB at 236 MP, docs/memory.md).
 *
 * The rewrite is lossless: the quantized coefficients are copied exactly, so
 * the new file decodes to exactly the same pixels. How:
 *   1. layout: every marker segment, entropy data skipped; the output's header
 *      is kept on the way (jpeg-progressive-layout.ts);
 *   2. every scan is decoded at once, each from its own place in the file, a
 *      few MCU rows behind the scan before it, and the final pass follows them
 *      (jpeg-coefficient-pipeline.ts): once every scan has decoded an MCU row,
 *      its coefficients are final;
 *   3. to a file (progressiveToBaseline), the final pass counts symbols for
 *      optimal Huffman tables, then the scans are decoded again and the final
 *      pass encodes the single interleaved baseline scan (jpeg-baseline-encoder.ts);
 *      to a pipe (progressiveToBaselineStream, read by dzsave as it is written),
 *      the tables come from the first MCU rows and the encoding starts at once.
 * Memory: a few chunks of about a megabyte of coefficients and one read window
 * per scan. No temporary file.
 */
import { once } from 'node:events';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { CorruptImageError, UntranscodableJpegError } from '../errors.js';
import { BufferedWriter, type ByteSink } from './buffered-file.js';
import { encodeScan, encodeWithSampledTables, optimalTables, writeScanHeader } from './jpeg-baseline-encoder.js';
import { CoefficientPipeline } from './jpeg-coefficient-pipeline.js';
import type { CoefficientPasses } from './jpeg-coefficient-blocks.js';
import { EOI, JpegReader, SOF1, type JpegFrame } from './jpeg-markers.js';
import { readProgressiveLayout, type ProgressiveLayout } from './jpeg-progressive-layout.js';
import { decodeScan } from './jpeg-progressive-scan.js';

export type { JpegFrame } from './jpeg-markers.js';
export { isProgressiveSof, readJpegFrame } from './jpeg-markers.js';

export interface BaselineResult {
  frame: JpegFrame;
  /** Scans in the progressive file. */
  scans: number;
  /** Size of the baseline JPEG written. */
  outputBytes: number;
}

/** A coefficient out of 8-bit range: the file is damaged (libjpeg would not write it). */
const damaged = (path: string) => (detail: string) => new CorruptImageError(path, detail);

/** Read window of each scan's decoder: a scan needs 64 KiB ahead of each MCU (jpeg-progressive-scan.ts). */
const SCAN_WINDOW_BYTES = 128 * 1024;

/** The rewrite to a file, with optimal Huffman tables (as `jpegtran -optimize` would write it). */
export async function progressiveToBaseline(inputPath: string, outputPath: string): Promise<BaselineResult> {
  let outFile: FileHandle | undefined;
  try {
    outFile = await open(outputPath, 'w');
    const out = new BufferedWriter(outFile);
    const result = await rewrite(inputPath, out, async (layout, decodeAll) => {
      let tables: Awaited<ReturnType<typeof optimalTables>> | undefined;
      await decodeAll(async (last) => {
        tables = await optimalTables(last, layout.geometry, damaged(inputPath));
      });
      await writeScanHeader(out, layout.frame, tables!);
      await decodeAll((last) => encodeScan(last, layout.geometry, tables!, out, damaged(inputPath)));
    });
    await out.flush();
    return result;
  } catch (err) {
    await rm(outputPath, { force: true });
    throw err;
  } finally {
    await outFile?.close();
  }
}

/**
 * The rewrite into `out` (then ended), encoded as it is decoded: dzsave cuts the baseline JPEG
 * from a pipe while it is written (tile-image.ts). Huffman tables from the first MCU rows.
 */
export async function progressiveToBaselineStream(inputPath: string, out: Writable): Promise<BaselineResult> {
  const sink = new StreamSink(out);
  const result = await rewrite(inputPath, sink, (layout, decodeAll) =>
    decodeAll((last) => encodeWithSampledTables(last, layout.geometry, layout.frame, sink, damaged(inputPath))),
  );
  out.end();
  await finished(out);
  return result;
}

/** Runs every scan's decoder and `last` (the final pass) once over the image. */
type DecodeAll = (last: (passes: CoefficientPasses) => Promise<void>) => Promise<void>;

/**
 * The layout, the header (the SOF made SOF1 where a quantization table needs 16 bits), `body`,
 * the end marker. `body` writes the DHT, SOS and scan, through one or more DecodeAll runs.
 */
async function rewrite(inputPath: string, out: ByteSink, body: (layout: ProgressiveLayout, decodeAll: DecodeAll) => Promise<void>): Promise<BaselineResult> {
  const file = await open(inputPath, 'r');
  try {
    const header = new MemorySink();
    const layout = await readProgressiveLayout(new JpegReader(file, inputPath), header);
    const headerBytes = header.bytes();
    // Baseline allows only 8-bit quantization tables; extended sequential (SOF1) decodes the same way.
    if (layout.wideQuantTables) headerBytes[layout.sofOffset + 1] = SOF1;
    await out.write(headerBytes);
    const decodeAll: DecodeAll = async (last) => {
      const pipeline = new CoefficientPipeline(layout.geometry.components.map((c) => c.grid), layout.scans.length + 1);
      const stages = [
        ...layout.scans.map((scan, i) => () => decodeScan(scan, layout.geometry, pipeline.stage(i), new JpegReader(file, inputPath, 0, SCAN_WINDOW_BYTES))),
        () => last(pipeline.stage(layout.scans.length)),
      ];
      // The first failure stops every other stage (they would wait for it forever).
      await Promise.all(stages.map((run) => run().catch((err: Error) => {
        pipeline.fail(err);
        throw err;
      })));
    };
    await body(layout, decodeAll);
    await out.write(Buffer.from([0xff, EOI]));
    return { frame: layout.frame, scans: layout.scans.length, outputBytes: out.position };
  } finally {
    await file.close();
  }
}

/** The header, kept in memory until its SOF marker is known. */
class MemorySink implements ByteSink {
  private readonly parts: Buffer[] = [];
  position = 0;

  async write(data: Uint8Array): Promise<void> {
    this.parts.push(Buffer.from(data));
    this.position += data.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Writes into a stream, waiting while it is full; a stream closed by its reader ends the rewrite. */
class StreamSink implements ByteSink {
  position = 0;

  constructor(private readonly out: Writable) {}

  async write(data: Uint8Array): Promise<void> {
    this.position += data.length;
    if (this.out.destroyed) throw prematureClose();
    if (this.out.write(Buffer.from(data))) return;
    const ac = new AbortController();
    // 'drain' when there is room again; 'close' when the reader stopped (dzsave failed, or was stopped).
    await Promise.race([once(this.out, 'drain', { signal: ac.signal }), once(this.out, 'close', { signal: ac.signal }).then(() => {
      throw prematureClose();
    })]).finally(() => ac.abort());
  }
}

function prematureClose(): Error {
  // The code vips-input.ts reads as "the reader stopped", not as a failure of the rewrite.
  return Object.assign(new Error('the reader closed the stream'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * Why this progressive JPEG cannot be rewritten as baseline, or null when it
 * can. Reads the file's marker segments (skipping the image data), not its
 * coefficients: fast enough to decide before tiling. Damage throws
 * CorruptImageError.
 */
export async function baselineObstacle(inputPath: string): Promise<string | null> {
  const reader = await JpegReader.open(inputPath);
  try {
    await readProgressiveLayout(reader);
    return null;
  } catch (err) {
    if (err instanceof UntranscodableJpegError) return err.detail;
    throw err;
  } finally {
    await reader.close();
  }
}
