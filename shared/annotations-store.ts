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
const coord = z.number().finite().min(-MAX_COORD).max(MAX_COORD);
const point = z.tuple([coord, coord]);

/** One shape per kind; the point count is part of each kind's contract. */
export const annotationGeometry = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('marker'), points: z.array(point).length(1) }),
  z.strictObject({ type: z.literal('line'), points: z.array(point).min(2).max(10_000) }),
  z.strictObject({ type: z.literal('polygon'), points: z.array(point).min(3).max(10_000) }),
  /** Two opposite corners. */
  z.strictObject({ type: z.literal('rectangle'), points: z.array(point).length(2) }),
  /** Centre and radius, both in pixels. */
  z.strictObject({ type: z.literal('circle'), points: z.array(point).length(1), radius: z.number().finite().positive().max(MAX_COORD) }),
]);

export type AnnotationGeometry = z.infer<typeof annotationGeometry>;
export type AnnotationType = AnnotationGeometry['type'];

export const annotationText = z.strictObject({
  title: z.string().trim().max(200).default(''),
  comment: z.string().trim().max(5000).default(''),
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

export const MAX_ANNOTATIONS_PER_IMAGE = 1000;

export class AnnotationsStore {
  private constructor(private readonly annotations: Collection<StoredAnnotation>) {}

  static async open(db: Db): Promise<AnnotationsStore> {
    const annotations = db.collection<StoredAnnotation>('annotations');
    await annotations.createIndex({ imageId: 1, createdAt: 1 }, { name: 'by_image' });
    return new AnnotationsStore(annotations);
  }

  async list(imageId: string): Promise<AnnotationDoc[]> {
    const docs = await this.annotations.find({ imageId }).sort({ createdAt: 1, _id: 1 }).limit(MAX_ANNOTATIONS_PER_IMAGE).toArray();
    return docs.map(fromStored);
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
