/**
 * QUOTA_PIXELS, checked by the worker once the header is read: a small file
 * declaring too many pixels for its owner fails with HUGEMAP_ERR_QUOTA_EXCEEDED
 * (in MongoDB, permanent, no tile stored); images that fit are tiled.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { patterned, startImageService, type ImageService } from './helpers/image-service.js';
import { waitFor } from './helpers/test-config.js';
import { bearer, createKey, createUser, uploadAs, type Caller } from './helpers/principals.js';

const TOKEN = 'bootstrap-admin-token-0123456789';
let svc: ImageService;
let quinn: Caller;
after(async () => {
  await svc?.close();
});
const servers = await useTestServers();

before(async () => {
  svc = await startImageService(servers, 'pixel-quota', { AUTH_MODE: 'required', ADMIN_TOKEN: TOKEN, QUOTA_PIXELS: '100000' });
  await createUser(svc.url, TOKEN, 'quinn', 'member');
  quinn = bearer('quinn', (await createKey(svc.url, bearer('bootstrap', TOKEN), { user: 'quinn', scopes: ['read', 'write'] })).key);
});

async function settled(id: string): Promise<any> {
  return waitFor(`image ${id} to settle`, async () => {
    const doc = await svc.store.get(id);
    return doc && (doc.status === 'done' || doc.status === 'failed') ? doc : undefined;
  }, 120_000);
}

test('images are tiled while their pixels fit; the one that would pass QUOTA_PIXELS fails with its code and no tiles', async () => {
  const small = await uploadAs(svc.url, quinn, await patterned(200, 200));
  assert.equal(small.status, 202);
  assert.equal((await settled(small.json.id)).status, 'done');

  const big = await uploadAs(svc.url, quinn, await patterned(300, 250));
  assert.equal(big.status, 202, 'bytes and count fit: refused only once its pixels are known');
  const failed = await settled(big.json.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error.code, 'HUGEMAP_ERR_QUOTA_EXCEEDED');
  assert.equal(failed.attempts, 1, 'permanent: not retried');
  const tiles: string[] = [];
  for await (const { key } of svc.s3.listKeys(`images/${big.json.id}/image_files/`)) tiles.push(key);
  assert.deepEqual(tiles, []);

  const fits = await uploadAs(svc.url, quinn, await patterned(150, 200));
  assert.equal((await settled(fits.json.id)).status, 'done', 'a failed image does not count against the quota');
});
