/**
 * Which images this API process recently read as not private, so that a scaled image already in
 * the disk cache can still be served while the database is down (/i/..., routes/scaled.ts).
 *
 * Only ids seen public or unlisted in a successful read within the last few minutes qualify: an
 * image never seen, seen private, or made private since (a read refreshes the entry) waits for the
 * database like everything else. The window bounds how stale a visibility change made through
 * another API process can be while the database is away.
 */
import { LRUCache } from 'lru-cache';
import type { ImageDoc } from '../../shared/image-status.js';
import { visibilityOf } from './access/image-access.js';

/** How long a successful read vouches for an image's visibility. */
export const VOUCHED_FOR_MS = 10 * 60_000;
const MAX_IDS = 100_000;

export class KnownVisibility {
  private readonly notPrivate = new LRUCache<string, true>({ max: MAX_IDS, ttl: VOUCHED_FOR_MS });

  /** Called with every image document read successfully for serving. */
  remember(doc: Pick<ImageDoc, '_id' | 'visibility'>): void {
    if (visibilityOf(doc) === 'private') this.notPrivate.delete(doc._id);
    else this.notPrivate.set(doc._id, true);
  }

  /** Whether `id` may be served to anyone without asking the database. */
  isPublicToAnyone(id: string): boolean {
    return this.notPrivate.get(id) === true;
  }
}

const made = new WeakMap<object, KnownVisibility>();

export function knownVisibility(deps: object): KnownVisibility {
  let known = made.get(deps);
  if (!known) {
    known = new KnownVisibility();
    made.set(deps, known);
  }
  return known;
}
