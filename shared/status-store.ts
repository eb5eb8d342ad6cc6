/**
 * Image status documents in MongoDB (official driver). Every write goes through
 * here so that every change is also announced to listeners (server-sent events).
 * A database that does not answer surfaces as DbUnavailableError (transient: 503
 * from the API, a long backoff in the worker), never as a raw driver error.
 */
import { MongoClient, type Collection, type Db, type Filter, type UpdateFilter } from 'mongodb';
import { DbUnavailableError } from './errors.js';
import type { ImageDoc, ImageState } from './image-status.js';
import { isDbUnavailable, isNetworkFailure } from './infra-errors.js';

export type StatusListener = (doc: ImageDoc) => void | Promise<void>;

export interface ListPage {
  items: ImageDoc[];
  nextCursor: string | null;
}

export class StatusStore {
  private readonly health: DbHealth = { downSince: null };

  private constructor(
    private readonly client: MongoClient,
    readonly images: Collection<ImageDoc>,
    private readonly onChange: StatusListener | undefined,
  ) {}

  /** The database is the URL's path (`mongodb://host/hugemap`), else `hugemap`. */
  /** `timeoutMs`: how long an operation waits for an unreachable server before it fails (server selection). */
  static async connect(mongoUrl: string, opts: { onChange?: StatusListener; dbName?: string; timeoutMs?: number } = {}): Promise<StatusStore> {
    const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: opts.timeoutMs ?? 10_000, appName: 'hugemap' });
    await unavailableAsOurs(client.connect(), null);
    const db: Db = client.db(opts.dbName ?? (dbNameFromUrl(mongoUrl) || 'hugemap'));
    const store = new StatusStore(client, db.collection<ImageDoc>('images'), opts.onChange);
    await store.ensureIndexes();
    return store;
  }

  async ensureIndexes(): Promise<void> {
    await this.images.createIndex({ createdAt: -1, _id: -1 }, { name: 'list_newest_first' });
    await this.images.createIndex({ status: 1, updatedAt: -1 }, { name: 'by_status' });
    await this.images.createIndex({ tags: 1, createdAt: -1, _id: -1 }, { name: 'by_tag' });
  }

  /**
   * Whether the last operation found the database unavailable and none has succeeded since: a
   * route with something to serve without it (routes/scaled.ts) need not wait MONGO_TIMEOUT_MS
   * for every request of an outage.
   */
  get unavailable(): boolean {
    return this.health.downSince !== null;
  }

  private guard<T>(op: Promise<T>): Promise<T> {
    return unavailableAsOurs(op, this.health);
  }

  async ping(): Promise<void> {
    await this.guard(this.images.db.command({ ping: 1 }));
  }

  async create(doc: ImageDoc): Promise<void> {
    await this.guard(this.images.insertOne(doc));
    await this.announce(doc);
  }

  async get(id: string): Promise<ImageDoc | null> {
    return this.guard(this.images.findOne({ _id: id }));
  }

  /** Documents matching `filter` (the reconciler's sweep), oldest change first. */
  async find(filter: Filter<ImageDoc>, limit: number): Promise<ImageDoc[]> {
    return this.guard(this.images.find(filter).sort({ updatedAt: 1 }).limit(limit).toArray());
  }

  /** Applies a `$set`-style patch (dotted paths allowed) and returns the new document. */
  async update(id: string, set: Record<string, unknown>, extra: Omit<UpdateFilter<ImageDoc>, '$set'> = {}): Promise<ImageDoc | null> {
    const doc = await this.guard(
      this.images.findOneAndUpdate({ _id: id }, { ...extra, $set: { ...set, updatedAt: new Date() } } as UpdateFilter<ImageDoc>, {
        returnDocument: 'after',
      }),
    );
    if (doc) await this.announce(doc);
    return doc;
  }

  /** `update`, only while the status is one of `from`: null when it was not (or the image is gone). */
  async transition(id: string, from: readonly ImageState[], set: Record<string, unknown>, extra: Omit<UpdateFilter<ImageDoc>, '$set'> = {}): Promise<ImageDoc | null> {
    const doc = await this.guard(
      this.images.findOneAndUpdate({ _id: id, status: { $in: [...from] } }, { ...extra, $set: { ...set, updatedAt: new Date() } } as UpdateFilter<ImageDoc>, {
        returnDocument: 'after',
      }),
    );
    if (doc) await this.announce(doc);
    return doc;
  }

  async delete(id: string): Promise<boolean> {
    const res = await this.guard(this.images.deleteOne({ _id: id }));
    return res.deletedCount === 1;
  }

  /** Newest first; the cursor is opaque to clients (createdAt and id of the last item). */
  async list(opts: { limit: number; cursor?: string | null; filter?: Filter<ImageDoc> }): Promise<ListPage> {
    const filter: Filter<ImageDoc> = { ...(opts.filter ?? {}) };
    const after = opts.cursor ? decodeCursor(opts.cursor) : null;
    if (after) {
      filter.$or = [{ createdAt: { $lt: after.createdAt } }, { createdAt: after.createdAt, _id: { $lt: after.id } }];
    }
    const items = await this.guard(this.images.find(filter).sort({ createdAt: -1, _id: -1 }).limit(opts.limit + 1).toArray());
    const more = items.length > opts.limit;
    const page = more ? items.slice(0, opts.limit) : items;
    const last = page[page.length - 1];
    return { items: page, nextCursor: more && last ? encodeCursor(last) : null };
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async announce(doc: ImageDoc): Promise<void> {
    // A lost notification only delays a live view; it must never fail the write.
    try {
      await this.onChange?.(doc);
    } catch {
      /* listeners report their own errors */
    }
  }
}

/**
 * The driver's "cannot reach the server" errors as DbUnavailableError; everything else as it is.
 * Writing to a connection the server closed surfaces as Node's own EPIPE, not wrapped by the
 * driver: any connection-level errno here is the database's connection failing.
 */
async function unavailableAsOurs<T>(op: Promise<T>, health: DbHealth | null): Promise<T> {
  try {
    const result = await op;
    if (health) health.downSince = null;
    return result;
  } catch (err) {
    if (!isDbUnavailable(err) && !isNetworkFailure(err)) throw err;
    if (health) health.downSince ??= Date.now();
    throw new DbUnavailableError(err);
  }
}

interface DbHealth {
  /** When an operation first found the database unavailable, with none succeeding since; null while it answers. */
  downSince: number | null;
}

function dbNameFromUrl(url: string): string {
  const path = url.replace(/^mongodb(\+srv)?:\/\/[^/]*/, '').split('?')[0] ?? '';
  return decodeURIComponent(path.replace(/^\//, ''));
}

function encodeCursor(doc: ImageDoc): string {
  return Buffer.from(JSON.stringify([doc.createdAt.getTime(), doc._id])).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } | null {
  try {
    const [t, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof t !== 'number' || typeof id !== 'string') return null;
    return { createdAt: new Date(t), id };
  } catch {
    return null;
  }
}
