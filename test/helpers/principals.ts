/**
 * Callers for access tests against an API running with AUTH_MODE=required:
 * users made through the API with the bootstrap ADMIN_TOKEN, their keys, and
 * request helpers that send a caller's credential.
 */
import assert from 'node:assert/strict';

export type Caller = { name: string; headers: Record<string, string> };

export const ANON: Caller = { name: 'anonymous', headers: {} };

export function bearer(name: string, key: string): Caller {
  return { name, headers: { Authorization: `Bearer ${key}` } };
}

export async function createUser(base: string, adminToken: string, name: string, role: 'admin' | 'member', password = `${name}-password-123`): Promise<void> {
  const res = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password, role }),
  });
  assert.equal(res.status, 201, `create user ${name}: ${await res.text()}`);
}

export async function createKey(base: string, asCaller: Caller, body: { user?: string; scopes: string[]; label?: string; expiresAt?: string }): Promise<{ id: string; key: string }> {
  const res = await fetch(`${base}/api/v1/keys`, {
    method: 'POST',
    headers: { ...asCaller.headers, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string; key: string };
  assert.equal(res.status, 201, `create key: ${JSON.stringify(json)}`);
  return json;
}

/** Signs in and returns the session cookie (name=value). */
export async function signIn(base: string, name: string, password = `${name}-password-123`): Promise<string> {
  const res = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Origin: base },
    body: JSON.stringify({ name, password }),
  });
  assert.equal(res.status, 200, `sign in ${name}: ${await res.clone().text()}`);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
  assert.match(cookie ?? '', /^hugemap_session=/);
  return cookie!;
}

export async function uploadAs(base: string, caller: Caller, body: Buffer, fields: Record<string, string> = {}, filename = 'image.jpg'): Promise<{ status: number; json: any }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('file', new Blob([new Uint8Array(body)]), filename);
  const res = await fetch(`${base}/api/v1/images`, { method: 'POST', body: form, headers: caller.headers });
  return { status: res.status, json: await res.json() };
}
