/**
 * The DCT coefficients of a whole JPEG, on disk instead of in memory.
 *
 * One region per component; each block is 64 int16 coefficients in zigzag
 * order (the order scans code them) followed by a 64-bit map of which AC
 * coefficients are nonzero (two int32 words, bit k = coefficient k): with it,
 * refinement scans and the encoder visit only the few nonzero coefficients of
 * a block instead of all 63. Blocks are in raster order, each block row
 * padded to the MCU grid (mcusPerLine * H blocks) and the rows to
 * mcusPerColumn * V, so an interleaved scan's dummy blocks have a place too.
 * The file is created sparse at its full size: nothing is allocated for what
 * the header claims until a scan actually writes it.
 *
 * Work happens in passes over bands: band m is block rows m*V .. m*V+V-1 of
 * each component taken, i.e. one MCU row. A pass reads a few bands at a time,
 * lets the caller decode into them or encode from them, and writes them back
 * while it reads the next ones: memory is two chunks of about a megabyte.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** A block in int16 units: 64 coefficients, then the nonzero map. */
export const BLOCK_STRIDE = 68;
const BLOCK_BYTES = BLOCK_STRIDE * 2;
const CHUNK_BYTES = 1024 * 1024;

/** Index in `Chunk.maps` of the first nonzero-map word of the block whose coefficients start at `at`. */
export function mapIndex(at: number): number {
  return (at >> 1) + 32;
}

export interface ComponentGrid {
  /** Padded blocks per block row: mcusPerLine * H. */
  blocksPerLine: number;
  /** Padded block rows: mcusPerColumn * V. */
  blockRows: number;
  /** Block rows per band (MCU row): V. */
  bandRows: number;
}

/**
 * What a pass hands over: `count` bands from `first`, per component taken
 * (block rows first*V onward) the blocks as int16 and, over the same memory,
 * as int32 for the nonzero maps. Block b starts at b * BLOCK_STRIDE.
 */
export interface Chunk {
  first: number;
  count: number;
  coefficients: Int16Array[];
  maps: Int32Array[];
}

export class CoefficientStore {
  private readonly base: number[] = [];
  readonly bytes: number;

  private constructor(private readonly file: FileHandle, private readonly grids: ComponentGrid[]) {
    let offset = 0;
    for (const g of grids) {
      this.base.push(offset);
      offset += g.blocksPerLine * g.blockRows * BLOCK_BYTES;
    }
    this.bytes = offset;
  }

  static async create(path: string, grids: ComponentGrid[]): Promise<CoefficientStore> {
    const file = await open(path, 'w+');
    const store = new CoefficientStore(file, grids);
    try {
      await file.truncate(store.bytes);
    } catch (err) {
      await file.close();
      throw err;
    }
    return store;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  /**
   * Bands 0..bands-1 of `components`, in order; `work` may change the
   * coefficients, which are written back when `writeBack` is set.
   */
  async pass(components: number[], bands: number, writeBack: boolean, work: (chunk: Chunk) => void | Promise<void>): Promise<void> {
    const bandBytes = components.map((c) => this.bandBytes(c));
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / bandBytes.reduce((a, b) => a + b, 0)));
    const chunks = Math.ceil(bands / perChunk);
    const buffers = [0, 1].map(() => components.map((_, i) => new Int16Array((bandBytes[i]! * perChunk) / 2)));
    const reads: Array<Promise<Chunk> | undefined> = [undefined, undefined];
    const writes: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    const load = (i: number): Promise<Chunk> => {
      const first = i * perChunk;
      const count = Math.min(perChunk, bands - first);
      const views = buffers[i % 2]!.map((b, k) => b.subarray(0, (bandBytes[k]! * count) / 2));
      const maps = views.map((v) => new Int32Array(v.buffer, v.byteOffset, v.length / 2));
      const done = Promise.all(views.map((v, k) => this.io('read', components[k]!, first, v))).then(() => ({ first, count, coefficients: views, maps }));
      done.catch(() => undefined); // awaited below; this only keeps an early failure from being reported as unhandled
      return done;
    };
    try {
      reads[0] = load(0);
      for (let i = 0; i < chunks; i++) {
        const chunk = await reads[i % 2]!;
        reads[i % 2] = undefined;
        if (i + 1 < chunks) {
          await writes[(i + 1) % 2]; // that buffer's previous chunk must be on disk before it is refilled
          reads[(i + 1) % 2] = load(i + 1);
        }
        await work(chunk);
        if (writeBack) {
          const written = Promise.all(chunk.coefficients.map((v, k) => this.io('write', components[k]!, chunk.first, v))).then(() => undefined);
          written.catch(() => undefined);
          writes[i % 2] = written;
        }
      }
      await Promise.all(writes);
    } finally {
      // Nothing may still be reading or writing when the caller closes the file.
      await Promise.allSettled([...reads, ...writes]);
    }
  }

  private bandBytes(c: number): number {
    const g = this.grids[c]!;
    return g.bandRows * g.blocksPerLine * BLOCK_BYTES;
  }

  private async io(kind: 'read' | 'write', c: number, firstBand: number, view: Int16Array): Promise<void> {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const position = this.base[c]! + firstBand * this.bandBytes(c);
    let done = 0;
    while (done < bytes.length) {
      const n = kind === 'read'
        ? (await this.file.read(bytes, done, bytes.length - done, position + done)).bytesRead
        : (await this.file.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
      if (n === 0) throw new Error(`coefficient store: ${kind} stopped at byte ${position + done}`);
      done += n;
    }
  }
}
