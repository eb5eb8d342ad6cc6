/**
 * Rewrites a progressive JPEG as a baseline one in bounded memory, so libvips
 * can then decode it top to bottom instead of holding every DCT coefficient
 * of the image (879 MB at 236 MP, docs/memory.md).
 *
 * The rewrite is lossless: the quantized coefficients are copied exactly, so
 * the new file decodes to exactly the same pixels. Passes:
 *   1. layout: every marker segment, entropy data skipped; the output's header
 *      is written on the way (jpeg-progressive-layout.ts);
 *   2. one read-modify-write pass over the coefficient store per scan
 *      (jpeg-progressive-scan.ts, jpeg-coefficient-store.ts);
 *   3. one read pass to count symbols for optimal Huffman tables, one to
 *      encode the single interleaved baseline scan (jpeg-baseline-encoder.ts).
 * Memory: one MCU row band of coefficients (double-buffered, about 1 MB
 * each) and a few fixed buffers. Disk: 128 bytes per block of the MCU grid
 * (about 3 bytes a pixel for 4:2:0, 6 for 4:4:4), removed before returning,
 * plus the new file.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { UntranscodableJpegError } from '../errors.js';
import { BufferedWriter } from './buffered-file.js';
import { encodeScan, optimalTables, writeScanHeader } from './jpeg-baseline-encoder.js';
import { CoefficientStore } from './jpeg-coefficient-store.js';
import { EOI, JpegReader, SOF1, type JpegFrame } from './jpeg-markers.js';
import { readProgressiveLayout } from './jpeg-progressive-layout.js';
import { decodeScan } from './jpeg-progressive-scan.js';

export type { JpegFrame } from './jpeg-markers.js';
export { isProgressiveSof, readJpegFrame } from './jpeg-markers.js';

export interface BaselineResult {
  frame: JpegFrame;
  /** Scans in the progressive file. */
  scans: number;
  /** Size of the coefficient store held on disk during the rewrite (removed before returning). */
  coefficientBytes: number;
  /** Size of the baseline JPEG written. */
  outputBytes: number;
}

export async function progressiveToBaseline(inputPath: string, outputPath: string): Promise<BaselineResult> {
  const storePath = `${outputPath}.coefficients`;
  const reader = await JpegReader.open(inputPath);
  let outFile: FileHandle | undefined;
  let store: CoefficientStore | undefined;
  try {
    outFile = await open(outputPath, 'w');
    const out = new BufferedWriter(outFile);
    const layout = await readProgressiveLayout(reader, out);
    store = await CoefficientStore.create(storePath, layout.geometry.components.map((c) => c.grid));
    for (const scan of layout.scans) await decodeScan(scan, layout.geometry, store, reader);
    const tables = await optimalTables(store, layout.geometry, (detail) => reader.corrupt(detail));
    await writeScanHeader(out, layout.frame, tables);
    await encodeScan(store, layout.geometry, tables, out);
    await out.write(Buffer.from([0xff, EOI]));
    await out.flush();
    // Baseline allows only 8-bit quantization tables; extended sequential (SOF1) decodes the same way.
    if (layout.wideQuantTables) await outFile.write(Buffer.from([SOF1]), 0, 1, layout.sofOffset + 1);
    return { frame: layout.frame, scans: layout.scans.length, coefficientBytes: store.bytes, outputBytes: out.position };
  } catch (err) {
    await rm(outputPath, { force: true });
    throw err;
  } finally {
    await Promise.allSettled([reader.close(), outFile?.close(), store?.close()]);
    await rm(storePath, { force: true });
  }
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
