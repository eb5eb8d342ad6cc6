/**
 * The web app with AUTH_MODE=required, in a real browser: visitors who are not
 * signed in get a read-only app (no upload form, no drawing tools, no edit or
 * delete) and a way to sign in; signing in at /login shows who is signed in,
 * offers the upload form with a visibility choice and "My images" with
 * visibility badges that can be changed; signing out ends it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useTestServers } from './helpers/servers.js';
import { collectPageErrors, skipWithoutChromium, screenshot } from './helpers/browser.js';
import { WAIT, dropFiles, gridImage, startWebStack, type WebStack } from './helpers/web-stack.js';
import { waitFor } from './helpers/test-config.js';
import { seriousViolations } from './helpers/axe.js';

const servers = await useTestServers();
const ADMIN_TOKEN = 'web-auth-bootstrap-token-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

describe('signed in or not', { skip: skipWithoutChromium() }, () => {
  let stack: WebStack;
  let base: string;
  let id: string;
  let hasSessions = false;

  /** Uploads as the bootstrap admin and waits for the job. */
  const upload = async (headers: Record<string, string>, name: string, visibility?: string): Promise<string> => {
    const form = new FormData();
    if (visibility) form.set('visibility', visibility);
    form.set('file', new Blob([new Uint8Array(await gridImage(600, 400, 50))]), name);
    const res = await fetch(`${base}/api/v1/images`, { method: 'POST', body: form, headers });
    assert.ok(res.status === 201 || res.status === 202 || res.status === 200, `upload: ${res.status} ${await res.clone().text()}`);
    const { id: imageId } = (await res.json()) as { id: string };
    await waitFor(`image ${imageId}`, async () => {
      const doc = (await (await fetch(`${base}/api/v1/images/${imageId}`, { headers })).json()) as { status: string };
      return doc.status === 'done' ? true : undefined;
    }, 60_000, 200);
    return imageId;
  };

  before(async () => {
    stack = await startWebStack(servers, 'web-auth', { AUTH_MODE: 'required', ADMIN_TOKEN });
    base = stack.api.url;
    id = await upload(admin, 'public-harbour.jpg', 'public');
    const annotation = await fetch(`${base}/api/v1/images/${id}/annotations`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'marker', points: [[300, 200]], title: 'Buoy', comment: '' }),
    });
    assert.equal(annotation.status, 201);
    hasSessions = (await fetch(`${base}/api/v1/session`)).status === 200;
  });

  after(async () => {
    await stack?.close();
  });

  test('a visitor who is not signed in sees a read-only app and a way to sign in', async () => {
    const page = await stack.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${base}/`);
    assert.equal(await page.locator('#dropzone').count(), 0, 'no upload form');
    assert.equal(await page.locator('#url-form').count(), 0);
    assert.equal(await page.locator('.topbar nav a[href="/"]').count(), 0, 'no Upload link');
    assert.equal(await page.locator('#sign-in').getAttribute('href'), '/login?next=%2F');
    assert.ok(await page.locator('#sign-in-to-upload a[href^="/login"]').isVisible());
    await screenshot(page, 'auth-anonymous-home');

    await page.goto(`${base}/v/${id}`);
    await page.waitForSelector('body[data-ready=true]', WAIT);
    assert.equal(await page.locator('.leaflet-pm-toolbar').count(), 0, 'no drawing tools');
    assert.equal(await page.locator('.tools-toggle').count(), 0);
    assert.equal(await page.locator('#undo').count(), 0);
    await page.click('#annotations-button');
    await page.locator('#annotation-list .annotation-show', { hasText: 'Buoy' }).waitFor(WAIT);
    assert.equal(await page.locator('#annotation-list .annotation-edit, #annotation-list .annotation-delete').count(), 0, 'no edit or delete');
    await page.locator('#annotation-list .annotation-show').click();
    await page.locator('.leaflet-popup h3', { hasText: 'Buoy' }).waitFor(WAIT);
    assert.equal(await page.locator('.leaflet-popup input').count(), 0, 'the popup only shows the text');
    await screenshot(page, 'auth-anonymous-viewer');

    await page.goto(`${base}/gallery`);
    await page.locator(`#grid .card[data-id="${id}"]`).waitFor(WAIT);
    assert.equal(await page.locator('#grid .edit, #grid .delete').count(), 0, 'no edit or delete in the gallery');

    await page.goto(`${base}/me`);
    assert.ok(await page.locator('main a[href="/login?next=%2Fme"]').isVisible());

    // The read-only pages and the sign-in page pass axe too.
    for (const path of ['/', `/v/${id}`, '/gallery', '/login', '/me']) {
      await page.goto(`${base}${path}`);
      if (path.startsWith('/v/')) await page.waitForSelector('body[data-ready=true]', WAIT);
      assert.deepEqual(await seriousViolations(page), [], path);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('sign in, upload with a visibility, see and change it under My images, sign out', async (t) => {
    if (!hasSessions) return t.skip('this server has no /api/v1/session yet');
    const created = await fetch(`${base}/api/v1/users`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'alice', password: 'alice-password-123', role: 'member' }),
    });
    assert.equal(created.status, 201, await created.text());

    const context = await stack.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    try {
      // A wrong password says so and stays on the page.
      await page.goto(`${base}/login?next=${encodeURIComponent('/me')}`);
      await page.fill('#login-name', 'alice');
      await page.fill('#login-password', 'wrong-password');
      await page.click('#login-form button[type=submit]');
      await page.locator('#login-error', { hasText: 'Wrong name or password.' }).waitFor(WAIT);

      await page.fill('#login-password', 'alice-password-123');
      await page.click('#login-form button[type=submit]');
      await page.waitForURL(`${base}/me`, WAIT);
      assert.equal((await page.locator('.account .who').textContent())?.trim(), 'Signed in as alice');
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.httpOnly);
      assert.ok(session, `an HttpOnly session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
      assert.equal(session.sameSite, 'Lax');
      await page.locator('#my-status', { hasText: 'You have no images yet.' }).waitFor(WAIT);

      // Upload as alice, privately, from the upload form.
      await page.goto(`${base}/`);
      // The form starts at the server's default (unlisted unless AUTH_MODE=open or DEFAULT_VISIBILITY say otherwise).
      await page.waitForFunction(() => (document.getElementById('visibility') as HTMLSelectElement).value === 'unlisted', null, WAIT);
      await page.selectOption('#visibility', 'private');
      const sent = page.waitForResponse((r) => r.url().includes('/api/v1/uploads') && r.request().method() === 'POST');
      await dropFiles(page, [{ name: 'alice-private.jpg', type: 'image/jpeg', bytes: await gridImage(500, 300, 300) }]);
      assert.ok((await sent).status() < 300);
      await page.locator('.item a.view-link').waitFor({ timeout: 60_000 });

      await page.goto(`${base}/me`);
      const row = page.locator('#my-images li').first();
      await row.waitFor(WAIT);
      assert.equal(await page.locator('#my-images li').count(), 1, 'only her own image');
      assert.equal((await row.locator('.badge').textContent())?.trim(), 'Private');
      const aliceId = (await row.getAttribute('data-id'))!;
      assert.equal((await fetch(`${base}/api/v1/images/${aliceId}`)).status, 404, 'private: hidden from anonymous');
      await screenshot(page, 'auth-my-images');

      await row.locator('select').selectOption('unlisted');
      await row.locator('.save-state', { hasText: 'saved' }).waitFor(WAIT);
      assert.equal((await row.locator('.badge').textContent())?.trim(), 'Unlisted');
      assert.equal((await fetch(`${base}/api/v1/images/${aliceId}`)).status, 200, 'unlisted: readable with the id');

      // Someone else's image: readable, not hers to change.
      await page.goto(`${base}/v/${id}`);
      await page.waitForSelector('body[data-ready=true]', WAIT);
      assert.equal(await page.locator('.leaflet-pm-toolbar').count(), 0);

      await page.click('#sign-out');
      await page.waitForURL(`${base}/gallery`, WAIT);
      assert.ok(await page.locator('#sign-in').isVisible());
      assert.equal(await page.locator('#sign-out').count(), 0);
      assert.equal((await (await page.request.get(`${base}/api/v1/session`)).json()).user, null);
      assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);
    } finally {
      await context.close();
    }
  });

  test('the sign-in page only goes on to paths on this site', async (t) => {
    if (!hasSessions) return t.skip('this server has no /api/v1/session yet');
    await fetch(`${base}/api/v1/users`, {
      method: 'POST',
      headers: { ...admin, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bob', password: 'bob-password-1234', role: 'member' }),
    });
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
      const context = await stack.browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
        await page.fill('#login-name', 'bob');
        await page.fill('#login-password', 'bob-password-1234');
        await page.click('#login-form button[type=submit]');
        await page.waitForURL(`${base}/gallery`, WAIT);
      } finally {
        await context.close();
      }
    }
  });
});

