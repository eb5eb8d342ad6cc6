/**
 * Sequential reads and writes on a file through one fixed buffer each, so a
 * pass over a multi-gigabyte file costs a few hundred kilobytes of memory and
 * few system calls. Positions are explicit: several readers may walk different
 * regions of the same file at once (png-deinterlace.ts reads seven passes).
 */
import type { FileHandle } from 'node:fs/promises';

export class BufferedReader {
  private buf: Buffer;
  private start = 0;
  private end = 0;
  /** File offset of buf[end]: where the next read from the file starts. */
  private filePos: number;

  constructor(private readonly file: FileHandle, position: number, bufferSize = 256 * 1024) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.filePos = position;
  }

  /** File offset of the next byte take() returns. */
  get position(): number {
    return this.filePos - (this.end - this.start);
  }

  seek(position: number): void {
    this.start = this.end = 0;
    this.filePos = position;
  }

  /**
   * Exactly n bytes, or null at a clean end of file (nothing left at all).
   * The view is only valid until the next call: callers copy what they keep.
   */
  async take(n: number): Promise<Buffer | null> {
    if (this.end - this.start < n) {
      await this.fill(n);
      if (this.end === this.start && n > 0) return null;
      if (this.end - this.start < n) throw new EndOfFileError(this.position, n);
    }
    const view = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    return view;
  }

  /** Between 1 and n bytes (what the buffer holds, refilled if empty); throws at end of file. */
  async takeUpTo(n: number): Promise<Buffer> {
    if (this.end === this.start) await this.fill(1);
    const count = Math.min(n, this.end - this.start);
    if (count === 0) throw new EndOfFileError(this.position, n);
    const view = this.buf.subarray(this.start, this.start + count);
    this.start += count;
    return view;
  }

  /** Reads until at least `need` bytes are buffered or the file ends; grows the buffer only for a larger request. */
  private async fill(need: number): Promise<void> {
    const held = this.end - this.start;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(need);
      this.buf.copy(bigger, 0, this.start, this.end);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.start, this.end);
    }
    this.start = 0;
    this.end = held;
    while (this.end < need) {
      const { bytesRead } = await this.file.read(this.buf, this.end, this.buf.length - this.end, this.filePos);
      if (bytesRead === 0) return;
      this.end += bytesRead;
      this.filePos += bytesRead;
    }
  }
}

/** The file ended inside something that needed more bytes. */
export class EndOfFileError extends Error {
  constructor(position: number, wanted: number) {
    super(`file ends at byte ${position}, ${wanted} more expected`);
  }
}

/** Where bytes are written in order: a file (BufferedWriter), memory, a pipe. */
export interface ByteSink {
  /** Bytes written so far. */
  readonly position: number;
  /** Copies `data` (or is done with it when the promise settles): the caller may then reuse its buffer. */
  write(data: Uint8Array): Promise<void>;
}

export class BufferedWriter implements ByteSink {
  private readonly buf: Buffer;
  private used = 0;
  private filePos: number;

  constructor(private readonly file: FileHandle, position = 0, bufferSize = 1024 * 1024) {
    this.buf = Buffer.allocUnsafe(bufferSize);
    this.filePos = position;
  }

  /** Bytes written so far, flushed or not, counted from the start position. */
  get position(): number {
    return this.filePos + this.used;
  }

  /** Copies `data`; the caller may reuse its buffer as soon as this returns. */
  async write(data: Uint8Array): Promise<void> {
    if (this.used + data.length > this.buf.length) await this.flush();
    if (data.length >= this.buf.length) {
      await this.writeFully(data);
      return;
    }
    this.buf.set(data, this.used);
    this.used += data.length;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const pending = this.buf.subarray(0, this.used);
    this.used = 0;
    await this.writeFully(pending);
  }

  private async writeFully(data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.file.write(data, done, data.length - done, this.filePos);
      done += bytesWritten;
      this.filePos += bytesWritten;
    }
  }
}
