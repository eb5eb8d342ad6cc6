/**
 * At most `limit` renders at once per process: each render's memory is bounded
 * by its output size, so bounding how many run bounds the total, however many
 * requests for new sizes arrive together. Waiters are served in order.
 */
export class RenderLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter; only free it when nobody waits.
      if (next) next();
      else this.running--;
    }
  }
}
