/** The API's AccountsStore: the one of its status database (shared/accounts/accounts-store.ts accountsOf). */
import { accountsOf, type AccountsStore } from '../../../shared/accounts/accounts-store.js';
import type { ApiDeps } from '../deps.js';

export function accountsFor(deps: Pick<ApiDeps, 'store'>): Promise<AccountsStore> {
  return accountsOf(deps.store.images.db);
}
