/**
 * Browsing over the status documents in one stable order, the listing's
 * (newest first: createdAt, then id, descending). Failed images are skipped:
 * there is nothing to show for them. Every query takes the caller's listing
 * filter (access/image-access.ts listingFilter): private and unlisted images
 * are never a step, a random pick or a tag count for anyone else.
 */
import { randomInt } from 'node:crypto';
import type { Filter } from 'mongodb';
import type { ImageDoc } from '../../shared/image-status.js';
import type { StatusStore } from '../../shared/status-store.js';

const SHOWABLE: Filter<ImageDoc> = { status: { $ne: 'failed' } };
const ORDER = { createdAt: -1, _id: -1 } as const;
const REVERSE = { createdAt: 1, _id: 1 } as const;

/** The image after `doc` in the listing (older), or null at the end. */
export async function nextImageId(store: StatusStore, doc: ImageDoc, visible: Filter<ImageDoc>): Promise<string | null> {
  const after: Filter<ImageDoc> = { $or: [{ createdAt: { $lt: doc.createdAt } }, { createdAt: doc.createdAt, _id: { $lt: doc._id } }] };
  const [found] = await store.images.find({ $and: [SHOWABLE, visible, after] }).sort(ORDER).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return found?._id ?? null;
}

/** The image before `doc` in the listing (newer), or null at the start. */
export async function previousImageId(store: StatusStore, doc: ImageDoc, visible: Filter<ImageDoc>): Promise<string | null> {
  const before: Filter<ImageDoc> = { $or: [{ createdAt: { $gt: doc.createdAt } }, { createdAt: doc.createdAt, _id: { $gt: doc._id } }] };
  const [found] = await store.images.find({ $and: [SHOWABLE, visible, before] }).sort(REVERSE).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return found?._id ?? null;
}

/**
 * Uniform: a random position below the count, then skip to it. When images
 * were deleted in between and the position falls past the end, draw again
 * with a fresh count; after a few tries take the first. null: no images.
 */
export async function randomImageId(store: StatusStore, visible: Filter<ImageDoc>): Promise<string | null> {
  const showable: Filter<ImageDoc> = { $and: [SHOWABLE, visible] };
  for (let attempt = 0; attempt < 3; attempt++) {
    const count = await store.images.countDocuments(showable);
    if (count === 0) return null;
    const [found] = await store.images.find(showable).sort(ORDER).skip(randomInt(count)).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
    if (found) return found._id;
  }
  const [first] = await store.images.find(showable).sort(ORDER).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return first?._id ?? null;
}

export interface TagCount {
  tag: string;
  count: number;
}

/** Every tag with the number of images carrying it, most used first (for a tag cloud). */
export async function tagCounts(store: StatusStore, visible: Filter<ImageDoc>, limit = 500): Promise<TagCount[]> {
  const rows = await store.images
    .aggregate<{ _id: string; count: number }>([
      { $match: { $and: [{ tags: { $exists: true } }, visible] } },
      { $unwind: '$tags' },
      { $group: { _id: '$tags', count: { $sum: 1 } } },
      { $sort: { count: -1, _id: 1 } },
      { $limit: limit },
    ])
    .toArray();
  return rows.map((r) => ({ tag: r._id, count: r.count }));
}
