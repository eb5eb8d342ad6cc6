/**
 * At most `limit` renders at once per process, and at most `maxQueue` waiting:
 * each render's memory is bounded by its output size, so bounding how many run
 * bounds the total, and bounding the queue bounds how long (and how many
 * sockets) a burst can hold. A render that finds the queue full is refused at
 * once with BusyError (503 + Retry-After) instead of waiting behind it.
 * Waiters are served in order.
 */
import { BusyError } from '../../shared/errors.js';

export class RenderLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueue = Infinity,
    /** Named in the BusyError message ("IIIF renders"). */
    private readonly what = 'renders',
    /** Retry-After of a refusal, in seconds. */
    private readonly retryAfterSeconds = 2,
  ) {}

  /** Renders running and waiting now (tests and metrics read them). */
  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxQueue) throw new BusyError(this.what, this.retryAfterSeconds);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
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
