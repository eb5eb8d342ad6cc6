/** The API's side of quotas: the caller's limits and usage before an upload or URL submission is accepted. */
import { effectiveQuota, usageOf, assertWithinQuota, type Quota, type Usage } from '../../../shared/accounts/quotas.js';
import type { ApiDeps } from '../deps.js';
import { accountsFor } from './accounts.js';
import { isAdmin, type Principal } from './principal.js';

export interface QuotaCheck {
  quota: Quota;
  usage: Usage;
  /** Throws QuotaExceededError if `adding` does not fit. */
  assert(adding: Partial<Usage>): void;
}

const UNLIMITED: QuotaCheck = { quota: { bytes: 0, images: 0, pixels: 0 }, usage: { bytes: 0, images: 0, pixels: 0 }, assert: () => undefined };

export async function quotaFor(deps: Pick<ApiDeps, 'config' | 'store'>, p: Principal): Promise<QuotaCheck> {
  if (p.kind !== 'user' || isAdmin(p)) return UNLIMITED;
  const user = await (await accountsFor(deps)).getUser(p.name);
  const quota = effectiveQuota(deps.config.quota, user?.quota);
  const usage = await usageOf(deps.store.images, p.name);
  return { quota, usage, assert: (adding) => assertWithinQuota(quota, usage, adding) };
}
