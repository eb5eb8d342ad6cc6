/**
 * Images stored before accounts existed have no owner and no visibility. They
 * were public to everyone, so they stay public, owned by the bootstrap admin
 * (`admin`), which is what access/image-access.ts already assumes for them;
 * writing it down makes per-owner queries (quotas, "my images") see them.
 * Idempotent: run at every API start.
 */
import type { Collection } from 'mongodb';
import type { ImageDoc } from '../image-status.js';

export const LEGACY_OWNER = 'admin';

export async function migrateLegacyImages(images: Collection<ImageDoc>): Promise<number> {
  const res = await images.updateMany({ owner: { $exists: false } }, { $set: { owner: LEGACY_OWNER, visibility: 'public' } });
  return res.modifiedCount;
}
