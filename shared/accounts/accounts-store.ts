/**
 * Users, API keys, browser sessions and the audit trail in MongoDB
 * (collections `users`, `api_keys`, `sessions`, `audit`). Used by the API's
 * access layer and, directly, by `hugemap users|keys` for operators.
 *
 * Nothing here is cached: a revoked key or an ended session is refused by the
 * very next request on every API replica.
 */
import type { Collection, Db } from 'mongodb';
import { ConflictError, NotFoundError } from '../errors.js';
import {
  decoyPasswordHash,
  hashPassword,
  newApiKey,
  newRecordId,
  newSessionId,
  sameDigest,
  secretDigest,
  verifyPassword,
} from './credentials.js';

export type Role = 'admin' | 'member';
export type Scope = 'read' | 'write' | 'admin';

/** Per-user overrides of QUOTA_BYTES / QUOTA_IMAGES / QUOTA_PIXELS. */
export interface QuotaOverrides {
  bytes?: number;
  images?: number;
  pixels?: number;
}

export interface UserDoc {
  /** The user name, unique. */
  _id: string;
  role: Role;
  passwordHash: string | null;
  quota?: QuotaOverrides;
  createdAt: Date;
}

export interface ApiKeyDoc {
  _id: string;
  user: string;
  /** SHA-256 of the whole key; the key itself is never stored. */
  digest: string;
  scopes: Scope[];
  label: string | null;
  expiresAt: Date | null;
  createdAt: Date;
}

export interface SessionDoc {
  /** SHA-256 of the cookie's session id. */
  _id: string;
  /** Short public id, for listing. */
  ref: string;
  user: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface AuditEntry {
  at: Date;
  /** Who did it: a user name, or null for an anonymous caller (failed sign-ins). */
  actor: string | null;
  /** How they proved it: session, key (with its id), bootstrap, open, cli. */
  via: string | null;
  action: string;
  /** What it was done to: `image:<id>`, `user:<name>`, `key:<id>`, `session`. */
  target: string | null;
  address: string | null;
  detail?: Record<string, unknown>;
}

export const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export interface UserView {
  name: string;
  role: Role;
  quota: QuotaOverrides | null;
  createdAt: string;
}

export interface KeyView {
  id: string;
  user: string;
  scopes: Scope[];
  label: string | null;
  expiresAt: string | null;
  createdAt: string;
}

export const toUserView = (u: UserDoc): UserView => ({ name: u._id, role: u.role, quota: u.quota ?? null, createdAt: u.createdAt.toISOString() });
export const toKeyView = (k: ApiKeyDoc): KeyView => ({
  id: k._id,
  user: k.user,
  scopes: k.scopes,
  label: k.label,
  expiresAt: k.expiresAt ? k.expiresAt.toISOString() : null,
  createdAt: k.createdAt.toISOString(),
});

/** The scopes a role may hold: a member's key can never carry `admin`. */
export function scopesAllowed(role: Role): Scope[] {
  return role === 'admin' ? ['read', 'write', 'admin'] : ['read', 'write'];
}

export class AccountsStore {
  readonly users: Collection<UserDoc>;
  readonly keys: Collection<ApiKeyDoc>;
  readonly sessions: Collection<SessionDoc>;
  readonly audit: Collection<AuditEntry>;

  private constructor(db: Db) {
    this.users = db.collection<UserDoc>('users');
    this.keys = db.collection<ApiKeyDoc>('api_keys');
    this.sessions = db.collection<SessionDoc>('sessions');
    this.audit = db.collection<AuditEntry>('audit');
  }

  static async open(db: Db): Promise<AccountsStore> {
    const store = new AccountsStore(db);
    await Promise.all([
      store.keys.createIndex({ digest: 1 }, { name: 'by_digest', unique: true }),
      store.keys.createIndex({ user: 1 }, { name: 'by_user' }),
      store.sessions.createIndex({ user: 1 }, { name: 'by_user' }),
      store.audit.createIndex({ at: -1 }, { name: 'newest_first' }),
    ]);
    return store;
  }

  // ---- users

  async createUser(name: string, password: string | null, role: Role, quota?: QuotaOverrides): Promise<UserDoc> {
    const doc: UserDoc = { _id: name, role, passwordHash: password === null ? null : await hashPassword(password), createdAt: new Date() };
    if (quota && Object.keys(quota).length > 0) doc.quota = quota;
    try {
      await this.users.insertOne(doc);
    } catch (err) {
      if ((err as { code?: unknown }).code === 11000) throw new ConflictError(`user ${name} already exists`);
      throw err;
    }
    return doc;
  }

  getUser(name: string): Promise<UserDoc | null> {
    return this.users.findOne({ _id: name });
  }

  listUsers(): Promise<UserDoc[]> {
    return this.users.find({}).sort({ _id: 1 }).limit(10_000).toArray();
  }

  /** Removes the user with every key and session of theirs; their images stay (an admin decides about those). */
  async removeUser(name: string): Promise<void> {
    const res = await this.users.deleteOne({ _id: name });
    if (res.deletedCount !== 1) throw new NotFoundError(`user ${name}`);
    await Promise.all([this.keys.deleteMany({ user: name }), this.sessions.deleteMany({ user: name })]);
  }

  /** The user if the password matches; null otherwise, after the same work either way. */
  async checkPassword(name: string, password: string): Promise<UserDoc | null> {
    const user = USER_NAME.test(name) ? await this.getUser(name) : null;
    if (!user || user.passwordHash === null) {
      await verifyPassword(await decoyPasswordHash(), password);
      return null;
    }
    return (await verifyPassword(user.passwordHash, password)) ? user : null;
  }

  // ---- API keys

  /** Returns the key itself once; only its digest is kept. */
  async createKey(user: string, scopes: Scope[], label: string | null, expiresAt: Date | null): Promise<{ key: string; doc: ApiKeyDoc }> {
    const key = newApiKey();
    const doc: ApiKeyDoc = { _id: newRecordId(), user, digest: secretDigest(key), scopes: [...new Set(scopes)], label, expiresAt, createdAt: new Date() };
    await this.keys.insertOne(doc);
    return { key, doc };
  }

  /** The key's record and its user, if the key exists, has not expired and its user still exists. */
  async findKey(key: string, now = new Date()): Promise<{ key: ApiKeyDoc; user: UserDoc } | null> {
    const digest = secretDigest(key);
    const doc = await this.keys.findOne({ digest });
    if (!doc || !sameDigest(doc.digest, digest)) return null;
    if (doc.expiresAt && doc.expiresAt <= now) return null;
    const user = await this.getUser(doc.user);
    return user ? { key: doc, user } : null;
  }

  listKeys(user?: string): Promise<ApiKeyDoc[]> {
    return this.keys.find(user === undefined ? {} : { user }).sort({ createdAt: -1 }).limit(10_000).toArray();
  }

  getKey(id: string): Promise<ApiKeyDoc | null> {
    return this.keys.findOne({ _id: id });
  }

  async revokeKey(id: string): Promise<boolean> {
    return (await this.keys.deleteOne({ _id: id })).deletedCount === 1;
  }

  // ---- sessions

  async createSession(user: string, ttlMs: number): Promise<{ sessionId: string; doc: SessionDoc }> {
    const sessionId = newSessionId();
    const now = new Date();
    const doc: SessionDoc = { _id: secretDigest(sessionId), ref: newRecordId(), user, createdAt: now, expiresAt: new Date(now.getTime() + ttlMs) };
    await this.sessions.insertOne(doc);
    return { sessionId, doc };
  }

  async findSession(sessionId: string, now = new Date()): Promise<{ session: SessionDoc; user: UserDoc } | null> {
    const session = await this.sessions.findOne({ _id: secretDigest(sessionId) });
    if (!session) return null;
    if (session.expiresAt <= now) {
      await this.sessions.deleteOne({ _id: session._id });
      return null;
    }
    const user = await this.getUser(session.user);
    return user ? { session, user } : null;
  }

  async endSession(sessionId: string): Promise<void> {
    await this.sessions.deleteOne({ _id: secretDigest(sessionId) });
  }

  // ---- audit

  async record(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    await this.audit.insertOne({ at: new Date(), ...entry });
  }

  /** Newest first; `before` is the previous page's last `at`. */
  listAudit(limit: number, before?: Date): Promise<Array<AuditEntry & { _id: unknown }>> {
    return this.audit
      .find(before ? { at: { $lt: before } } : {})
      .sort({ at: -1 })
      .limit(limit)
      .toArray() as Promise<Array<AuditEntry & { _id: unknown }>>;
  }
}

const openedFor = new WeakMap<Db, Promise<AccountsStore>>();

/**
 * One AccountsStore per database in this process (the API's routes and resolver, the worker's pixel
 * quota), its indexes ensured on first use. A failed open (MongoDB down) is retried next time, not remembered.
 */
export function accountsOf(db: Db): Promise<AccountsStore> {
  let store = openedFor.get(db);
  if (!store) {
    store = AccountsStore.open(db);
    store.catch(() => openedFor.delete(db));
    openedFor.set(db, store);
  }
  return store;
}
