/**
 * Browsing over the status documents in one stable order, the listing's
 * (newest first: createdAt, then id, descending). Failed images are skipped:
 * there is nothing to show for them.
 */
import { randomInt } from 'node:crypto';
import type { Filter } from 'mongodb';
import type { ImageDoc } from '../../shared/image-status.js';
import type { StatusStore } from '../../shared/status-store.js';

const SHOWABLE: Filter<ImageDoc> = { status: { $ne: 'failed' } };
const ORDER = { createdAt: -1, _id: -1 } as const;
const REVERSE = { createdAt: 1, _id: 1 } as const;

/** The image after `doc` in the listing (older), or null at the end. */
export async function nextImageId(store: StatusStore, doc: ImageDoc): Promise<string | null> {
  const after: Filter<ImageDoc> = { $or: [{ createdAt: { $lt: doc.createdAt } }, { createdAt: doc.createdAt, _id: { $lt: doc._id } }] };
  const [found] = await store.images.find({ $and: [SHOWABLE, after] }).sort(ORDER).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return found?._id ?? null;
}

/** The image before `doc` in the listing (newer), or null at the start. */
export async function previousImageId(store: StatusStore, doc: ImageDoc): Promise<string | null> {
  const before: Filter<ImageDoc> = { $or: [{ createdAt: { $gt: doc.createdAt } }, { createdAt: doc.createdAt, _id: { $gt: doc._id } }] };
  const [found] = await store.images.find({ $and: [SHOWABLE, before] }).sort(REVERSE).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return found?._id ?? null;
}

/**
 * Uniform: a random position below the count, then skip to it. When images
 * were deleted in between and the position falls past the end, draw again
 * with a fresh count; after a few tries take the first. null: no images.
 */
export async function randomImageId(store: StatusStore): Promise<string | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const count = await store.images.countDocuments(SHOWABLE);
    if (count === 0) return null;
    const [found] = await store.images.find(SHOWABLE).sort(ORDER).skip(randomInt(count)).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
    if (found) return found._id;
  }
  const [first] = await store.images.find(SHOWABLE).sort(ORDER).limit(1).project<{ _id: string }>({ _id: 1 }).toArray();
  return first?._id ?? null;
}

export interface TagCount {
  tag: string;
  count: number;
}

/** Every tag with the number of images carrying it, most used first (for a tag cloud). */
export async function tagCounts(store: StatusStore, limit = 500): Promise<TagCount[]> {
  const rows = await store.images
    .aggregate<{ _id: string; count: number }>([
      { $match: { tags: { $exists: true } } },
      { $unwind: '$tags' },
      { $group: { _id: '$tags', count: { $sum: 1 } } },
      { $sort: { count: -1, _id: 1 } },
      { $limit: limit },
    ])
    .toArray();
  return rows.map((r) => ({ tag: r._id, count: r.count }));
}
