/**
 * Who may see and change which image: the one place that decides, next to the
 * image store, so no route can forget it.
 *
 * - public: listed and readable by anyone.
 * - unlisted: readable by anyone with the id, never listed.
 * - private: only its owner and admins; everyone else gets 404, exactly as
 *   for an image that does not exist (no 403 that would confirm it exists).
 * Changes (title, visibility, delete, annotations) need the owner or an admin.
 * Documents from before accounts have no owner/visibility: public, owned by
 * the bootstrap admin (the migration in users-store.ts writes that down).
 */
import type { Filter } from 'mongodb';
import { ForbiddenError, NotFoundError } from '../../../shared/errors.js';
import type { ImageDoc } from '../../../shared/image-status.js';
import type { ApiDeps } from '../deps.js';
import { BOOTSTRAP_ADMIN, isAdmin, type Principal } from './principal.js';

export type Visibility = 'public' | 'unlisted' | 'private';

export function visibilityOf(doc: Pick<ImageDoc, 'visibility'>): Visibility {
  return doc.visibility ?? 'public';
}

export function ownerOf(doc: Pick<ImageDoc, 'owner'>): string {
  return doc.owner ?? BOOTSTRAP_ADMIN;
}

export function isOwner(p: Principal, doc: Pick<ImageDoc, 'owner'>): boolean {
  return p.kind === 'user' && p.name === ownerOf(doc);
}

/** May this caller read the image at all (by id)? */
export function canRead(p: Principal, doc: Pick<ImageDoc, 'owner' | 'visibility'>): boolean {
  return visibilityOf(doc) !== 'private' || isAdmin(p) || isOwner(p, doc);
}

/** May this caller change or delete it? (It must be readable too, which owners and admins always are.) */
export function canWrite(p: Principal, doc: Pick<ImageDoc, 'owner'>): boolean {
  return isAdmin(p) || isOwner(p, doc);
}

/**
 * The MongoDB filter for a listing, browse step or tag count: public images,
 * plus (with `mine`) every image of the caller. Admins see no more in
 * listings than others unless they ask for `mine`, which for them is their own.
 */
export function listingFilter(p: Principal, opts: { mine?: boolean } = {}): Filter<ImageDoc> {
  if (opts.mine) {
    if (p.kind !== 'user') return { _id: { $in: [] } };
    return p.name === BOOTSTRAP_ADMIN ? { $or: [{ owner: p.name }, { owner: { $exists: false } }] } : { owner: p.name };
  }
  return { $or: [{ visibility: 'public' }, { visibility: { $exists: false } }] };
}

export class ImageAccess {
  constructor(private readonly deps: Pick<ApiDeps, 'store'>) {}

  /** The image if this caller may read it; NotFoundError otherwise (private looks absent). */
  async readable(p: Principal, id: string): Promise<ImageDoc> {
    const doc = await this.deps.store.get(id);
    if (!doc || !canRead(p, doc)) throw new NotFoundError(`image ${id}`);
    return doc;
  }

  /** The image if this caller may change it: 404 when they cannot even read it, 403 when they can but do not own it. */
  async writable(p: Principal, id: string): Promise<ImageDoc> {
    const doc = await this.readable(p, id);
    if (!canWrite(p, doc)) throw new ForbiddenError(`only the owner of image ${id} or an admin may change it`);
    return doc;
  }
}

const made = new WeakMap<object, ImageAccess>();

export function imageAccess(deps: Pick<ApiDeps, 'store'>): ImageAccess {
  let access = made.get(deps);
  if (!access) {
    access = new ImageAccess(deps);
    made.set(deps, access);
  }
  return access;
}
