/** One AnnotationsStore per API, opened on first use (its index is created then), shared by every route that needs it. */
import { AnnotationsStore } from '../../shared/annotations-store.js';
import type { ApiDeps } from './deps.js';

const opened = new WeakMap<ApiDeps, Promise<AnnotationsStore>>();

export function annotationsFor(deps: ApiDeps): Promise<AnnotationsStore> {
  let store = opened.get(deps);
  if (!store) {
    store = AnnotationsStore.open(deps.store.images.db);
    // A failed open (MongoDB down) is retried on the next request, not remembered.
    store.catch(() => opened.delete(deps));
    opened.set(deps, store);
  }
  return store;
}
