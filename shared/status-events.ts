/**
 * Live status changes over Redis pub/sub, so an API process can stream a job's
 * progress (server-sent events) while a worker on another machine writes it.
 * MongoDB change streams would need a replica set; FerretDB and small installs
 * have none.
 */
import { Redis } from 'ioredis';
import type { ImageDoc } from './image-status.js';

const channelFor = (prefix: string, id: string) => `${prefix}:status:${id}`;

export class StatusEvents {
  private readonly pub: Redis;
  private sub: Redis | null = null;
  private readonly listeners = new Map<string, Set<(doc: ImageDoc) => void>>();

  /** `onError` hears connection trouble (ioredis reconnects by itself); without it ioredis prints to the console. */
  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.pub = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
    this.pub.on('error', this.onError);
  }

  /** The non-blocking command connection, shared with other short Redis commands of this process (rate limits). */
  get commands(): Redis {
    return this.pub;
  }

  async publish(doc: ImageDoc): Promise<void> {
    await this.pub.publish(channelFor(this.prefix, doc._id), JSON.stringify(doc));
  }

  /** Returns an unsubscribe function. Documents arrive with dates revived. */
  async subscribe(id: string, listener: (doc: ImageDoc) => void): Promise<() => Promise<void>> {
    const sub = this.subscriber();
    const channel = channelFor(this.prefix, id);
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await sub.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(channel) === set) {
        this.listeners.delete(channel);
        await sub.unsubscribe(channel);
      }
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pub.quit(), this.sub?.quit()]);
  }

  private subscriber(): Redis {
    if (!this.sub) {
      this.sub = new Redis(this.redisUrl);
      this.sub.on('error', this.onError);
      this.sub.on('message', (channel: string, message: string) => {
        const doc = reviveDoc(JSON.parse(message) as ImageDoc);
        for (const l of this.listeners.get(channel) ?? []) l(doc);
      });
    }
    return this.sub;
  }
}

function reviveDoc(doc: ImageDoc): ImageDoc {
  return { ...doc, createdAt: new Date(doc.createdAt), updatedAt: new Date(doc.updatedAt) };
}
