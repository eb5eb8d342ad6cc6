/**
 * Event streams never end on their own, so a graceful shutdown must end them
 * or it would wait for its whole timeout.
 */
export class OpenStreams {
  private readonly closers = new Set<() => void>();

  /** Registers a stream's close function; returns the function that forgets it. */
  add(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  get size(): number {
    return this.closers.size;
  }

  closeAll(): void {
    for (const close of [...this.closers]) close();
    this.closers.clear();
  }
}
