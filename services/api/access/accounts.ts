/** One AccountsStore per API, opened on first use and shared by the resolver and the account routes. */
import { AccountsStore } from '../../../shared/accounts/accounts-store.js';
import type { ApiDeps } from '../deps.js';

const opened = new WeakMap<object, Promise<AccountsStore>>();

export function accountsFor(deps: Pick<ApiDeps, 'store'>): Promise<AccountsStore> {
  let store = opened.get(deps);
  if (!store) {
    store = AccountsStore.open(deps.store.images.db);
    // A failed open (MongoDB down) is retried on the next request, not remembered.
    store.catch(() => opened.delete(deps));
    opened.set(deps, store);
  }
  return store;
}
