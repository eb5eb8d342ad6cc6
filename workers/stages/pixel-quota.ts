/**
 * The pixel quota (QUOTA_PIXELS, per user): only now, with the header read, is
 * an image's size known, and a file of a few megabytes can declare a gigapixel
 * whose tiles would fill the bucket. Refused as a permanent failure
 * (HUGEMAP_ERR_QUOTA_EXCEEDED) before any tile is cut. Admins, and images from
 * before accounts, are exempt, as at upload (shared/accounts/quotas.ts).
 */
import { accountsOf } from '../../shared/accounts/accounts-store.js';
import { LEGACY_OWNER } from '../../shared/accounts/migrate-images.js';
import { assertWithinQuota, effectiveQuota, usageOf } from '../../shared/accounts/quotas.js';
import type { JobContext } from '../job-context.js';

export async function assertPixelQuota(ctx: Pick<JobContext, 'id' | 'doc' | 'config' | 'store'>, width: number, height: number): Promise<void> {
  const owner = ctx.doc.owner;
  if (owner === undefined || owner === LEGACY_OWNER) return;
  const user = await (await accountsOf(ctx.store.images.db)).getUser(owner);
  if (user?.role === 'admin') return;
  const quota = effectiveQuota(ctx.config.quota, user?.quota);
  if (quota.pixels === 0) return;
  assertWithinQuota(quota, await usageOf(ctx.store.images, owner, ctx.id), { pixels: width * height });
}
