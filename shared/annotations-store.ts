/**
 * Annotations drawn on an image, in MongoDB (collection `annotations`).
 * Geometry is in IMAGE PIXEL coordinates (x right, y down, full resolution),
 * never map lat/lng: they stay right at every zoom level, in any viewer, and
 * survive re-tiling with another tile size.
 */
import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { z } from 'zod';

const MAX_COORD = 10_000_000;
/**
 * Caps that keep one image's annotations small enough to list and store: a
 * shape of MAX_POINTS points is about 50 KB of JSON, and a page of
 * MAX_PAGE_SIZE of them a few MB at worst (a probe once made one GET of 28 MB).
 */
export const MAX_POINTS = 2000;
export const MAX_TITLE_CHARS = 200;
export const MAX_COMMENT_CHARS = 2000;
export const MAX_ANNOTATIONS_PER_IMAGE = 500;
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 200;
const coord = z.number().finite().min(-MAX_COORD).max(MAX_COORD);
const point = z.tuple([coord, coord]);

/** One shape per kind; the point count is part of each kind's contract. */
export const annotationGeometry = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('marker'), points: z.array(point).length(1) }),
  z.strictObject({ type: z.literal('line'), points: z.array(point).min(2).max(MAX_POINTS) }),
  z.strictObject({ type: z.literal('polygon'), points: z.array(point).min(3).max(MAX_POINTS) }),
  /** Two opposite corners. */
  z.strictObject({ type: z.literal('rectangle'), points: z.array(point).length(2) }),
  /** Centre and radius, both in pixels. */
  z.strictObject({ type: z.literal('circle'), points: z.array(point).length(1), radius: z.number().finite().positive().max(MAX_COORD) }),
]);

export type AnnotationGeometry = z.infer<typeof annotationGeometry>;
export type AnnotationType = AnnotationGeometry['type'];

export const annotationText = z.strictObject({
  title: z.string().trim().max(MAX_TITLE_CHARS).default(''),
  comment: z.string().trim().max(MAX_COMMENT_CHARS).default(''),
});

/** As stored: points as {x, y} objects (FerretDB, like some MongoDB-compatible servers, refuses nested arrays). */
interface StoredGeometry {
  type: AnnotationType;
  points: Array<{ x: number; y: number }>;
  radius?: number;
}

interface StoredAnnotation {
  _id: string;
  imageId: string;
  geometry: StoredGeometry;
  title: string;
  comment: string;
  createdAt: Date;
  updatedAt: Date;
}

const toStored = (g: AnnotationGeometry): StoredGeometry => ({
  ...g,
  points: g.points.map(([x, y]) => ({ x, y })),
});

function fromStored(doc: StoredAnnotation): AnnotationDoc {
  const { points, ...rest } = doc.geometry;
  return { ...doc, geometry: { ...rest, points: points.map(({ x, y }) => [x, y]) } as AnnotationGeometry };
}

export interface AnnotationDoc {
  _id: string;
  imageId: string;
  geometry: AnnotationGeometry;
  title: string;
  comment: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface AnnotationView {
  id: string;
  imageId: string;
  type: AnnotationType;
  points: Array<[number, number]>;
  radius?: number;
  title: string;
  comment: string;
  createdAt: string;
  updatedAt: string;
}

/** Where a page of a listing ended: the next page starts after it (creation order, then id). */
export interface AnnotationCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(c: AnnotationCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt.getTime(), c.id])).toString('base64url');
}

/** null for anything that is not a cursor this API handed out. */
export function decodeCursor(text: string): AnnotationCursor | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v[1])) return null;
    return { createdAt: new Date(v[0] as number), id: v[1] };
  } catch {
    return null;
  }
}

export class AnnotationsStore {
  private constructor(private readonly annotations: Collection<StoredAnnotation>) {}

  static async open(db: Db): Promise<AnnotationsStore> {
    const annotations = db.collection<StoredAnnotation>('annotations');
    await annotations.createIndex({ imageId: 1, createdAt: 1 }, { name: 'by_image' });
    return new AnnotationsStore(annotations);
  }

  /** One page in creation order, and where the next one starts (null on the last page). */
  async list(imageId: string, opts: { limit?: number; after?: AnnotationCursor | null } = {}): Promise<{ items: AnnotationDoc[]; next: AnnotationCursor | null }> {
    const limit = Math.max(1, Math.min(MAX_PAGE_SIZE, opts.limit ?? DEFAULT_PAGE_SIZE));
    const after = opts.after;
    const filter = after
      ? { imageId, $or: [{ createdAt: { $gt: after.createdAt } }, { createdAt: after.createdAt, _id: { $gt: after.id } }] }
      : { imageId };
    // One more than asked tells whether another page follows.
    const docs = await this.annotations.find(filter).sort({ createdAt: 1, _id: 1 }).limit(limit + 1).toArray();
    const items = docs.slice(0, limit).map(fromStored);
    const last = items.at(-1);
    return { items, next: docs.length > limit && last ? { createdAt: new Date(last.createdAt), id: last._id } : null };
  }

  async get(imageId: string, id: string): Promise<AnnotationDoc | null> {
    const doc = await this.annotations.findOne({ _id: id, imageId });
    return doc && fromStored(doc);
  }

  async count(imageId: string): Promise<number> {
    return this.annotations.countDocuments({ imageId });
  }

  async create(imageId: string, geometry: AnnotationGeometry, text: { title: string; comment: string }, now = new Date()): Promise<AnnotationDoc> {
    const doc: StoredAnnotation = { _id: randomBytes(9).toString('base64url'), imageId, geometry: toStored(geometry), ...text, createdAt: now, updatedAt: now };
    await this.annotations.insertOne(doc);
    return fromStored(doc);
  }

  /** Several at once (a W3C import), created in the given order. */
  async createMany(imageId: string, items: Array<{ geometry: AnnotationGeometry; text: { title: string; comment: string } }>, now = new Date()): Promise<AnnotationDoc[]> {
    if (items.length === 0) return [];
    // Creation order is the listing order: one millisecond apart keeps the page's order.
    const docs: StoredAnnotation[] = items.map(({ geometry, text }, i) => {
      const at = new Date(now.getTime() + i);
      return { _id: randomBytes(9).toString('base64url'), imageId, geometry: toStored(geometry), ...text, createdAt: at, updatedAt: at };
    });
    await this.annotations.insertMany(docs, { ordered: true });
    return docs.map(fromStored);
  }

  async update(
    imageId: string,
    id: string,
    patch: { geometry?: AnnotationGeometry; title?: string; comment?: string },
  ): Promise<AnnotationDoc | null> {
    const { geometry, ...text } = patch;
    const set = { ...text, ...(geometry ? { geometry: toStored(geometry) } : {}), updatedAt: new Date() };
    const doc = await this.annotations.findOneAndUpdate({ _id: id, imageId }, { $set: set }, { returnDocument: 'after' });
    return doc && fromStored(doc);
  }

  async delete(imageId: string, id: string): Promise<boolean> {
    return (await this.annotations.deleteOne({ _id: id, imageId })).deletedCount === 1;
  }

  /** For when an image is deleted. */
  async deleteAll(imageId: string): Promise<number> {
    return (await this.annotations.deleteMany({ imageId })).deletedCount;
  }
}

export function toAnnotationView(doc: AnnotationDoc): AnnotationView {
  const view: AnnotationView = {
    id: doc._id,
    imageId: doc.imageId,
    type: doc.geometry.type,
    points: doc.geometry.points.map(([x, y]) => [x, y]),
    title: doc.title,
    comment: doc.comment,
    createdAt: new Date(doc.createdAt).toISOString(),
    updatedAt: new Date(doc.updatedAt).toISOString(),
  };
  if (doc.geometry.type === 'circle') view.radius = doc.geometry.radius;
  return view;
}
