/**
 * Per-user quotas: bytes of originals, number of images and total pixels
 * (QUOTA_BYTES / QUOTA_IMAGES / QUOTA_PIXELS, each overridable per user; 0 =
 * no limit). Admins are exempt. Bytes and images are checked by the API before
 * anything is stored; pixels only become known when the worker reads the
 * header, so the worker checks them then (a small file can declare a huge image).
 * Failed images do not count: their tiles are not stored.
 */
import type { Collection } from 'mongodb';
import { QuotaExceededError } from '../errors.js';
import type { ImageDoc } from '../image-status.js';
import type { QuotaOverrides } from './accounts-store.js';

export interface Quota {
  bytes: number;
  images: number;
  pixels: number;
}

export interface Usage {
  bytes: number;
  images: number;
  pixels: number;
}

export function effectiveQuota(defaults: Quota, overrides: QuotaOverrides | undefined): Quota {
  return { ...defaults, ...(overrides ?? {}) };
}

/** What one owner's images (other than `except`) use now. */
export async function usageOf(images: Collection<ImageDoc>, owner: string, except?: string): Promise<Usage> {
  const match: Record<string, unknown> = { owner, status: { $ne: 'failed' } };
  if (except !== undefined) match._id = { $ne: except };
  // A projection and a sum here rather than $group: fewer aggregation features asked of MongoDB-compatible servers.
  const docs = await images.find(match).project<{ bytes: number | null; width: number | null; height: number | null }>({ bytes: 1, width: 1, height: 1 }).toArray();
  let bytes = 0;
  let pixels = 0;
  for (const d of docs) {
    bytes += d.bytes ?? 0;
    pixels += (d.width ?? 0) * (d.height ?? 0);
  }
  return { bytes, images: docs.length, pixels };
}

/** Throws QuotaExceededError when adding `adding` to `usage` passes any limit of `quota`. */
export function assertWithinQuota(quota: Quota, usage: Usage, adding: Partial<Usage>): void {
  const over = (limit: number, used: number, more: number | undefined) => limit > 0 && more !== undefined && used + more > limit;
  if (over(quota.images, usage.images, adding.images)) {
    throw new QuotaExceededError(`quota reached: at most ${quota.images.toLocaleString('en-US')} images per user`);
  }
  if (over(quota.bytes, usage.bytes, adding.bytes)) {
    throw new QuotaExceededError(`quota exceeded: ${quota.bytes.toLocaleString('en-US')} bytes of originals per user, ${usage.bytes.toLocaleString('en-US')} used`);
  }
  if (over(quota.pixels, usage.pixels, adding.pixels)) {
    throw new QuotaExceededError(`quota exceeded: ${quota.pixels.toLocaleString('en-US')} pixels of images per user, ${usage.pixels.toLocaleString('en-US')} used`);
  }
}
