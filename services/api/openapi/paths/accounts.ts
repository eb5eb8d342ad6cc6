/**
 * Sessions, users, API keys, the audit log and retries. Request bodies are the
 * schemas routes/accounts.ts validates with; responses mirror
 * shared/accounts/accounts-store.ts's views.
 */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { access, errors, imageParams, json, jsonBody, noContent } from '../responses.js';
import { imageAccepted } from '../schemas.js';
import { newKeyBody, newUserBody, signInBody } from '../../routes/accounts.js';

const role = z.enum(['admin', 'member']);
const scope = z.enum(['read', 'write', 'admin']);
const isoDate = z.string().meta({ format: 'date-time' });

const signIn = signInBody;
// Not a named component: zod-to-openapi renders a nullable $ref as allOf [$ref, null], which null fails.
const sessionUser = z.object({ name: z.string(), role });
const session = z
  .object({ user: sessionUser.nullable(), authMode: z.enum(['required', 'open']), defaultVisibility: z.enum(['public', 'unlisted', 'private']) })
  .meta({ id: 'Session' });

const newUser = newUserBody;
const quota = z.object({ bytes: z.number().int().optional(), images: z.number().int().optional(), pixels: z.number().int().optional() });
const user = z.object({ name: z.string(), role, quota: quota.nullable(), createdAt: isoDate }).meta({ id: 'User' });

const newKey = newKeyBody;
const keyView = z.object({ id: z.string(), user: z.string(), scopes: z.array(scope), label: z.string().nullable(), expiresAt: isoDate.nullable(), createdAt: isoDate });
const createdKey = keyView.extend({ key: z.string().meta({ description: '`hm_...`: shown once, stored only as a hash' }) }).meta({ id: 'CreatedKey' });

const auditEntry = z.object({
  at: isoDate,
  actor: z.string().nullable(),
  via: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  address: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
const auditPage = z.object({ items: z.array(auditEntry), nextCursor: z.string().nullable() }).meta({ id: 'AuditPage' });

export const accountPaths: RouteConfig[] = [
  {
    method: 'post',
    path: '/api/v1/session',
    tags: ['accounts'],
    summary: 'Sign in with a name and password; sets an HttpOnly session cookie',
    ...access('anyone'),
    request: { body: jsonBody(signIn) },
    responses: { 200: json('Signed in.', z.object({ user: sessionUser })), ...errors(400, 401, 429) },
  },
  {
    method: 'get',
    path: '/api/v1/session',
    tags: ['accounts'],
    summary: 'Who is signed in (user null when nobody), and whether auth is required',
    ...access('anyone'),
    responses: { 200: json('The session.', session) },
  },
  {
    method: 'delete',
    path: '/api/v1/session',
    tags: ['accounts'],
    summary: 'Sign out',
    ...access('signed-in'),
    responses: { 204: noContent, ...errors(401) },
  },
  {
    method: 'post',
    path: '/api/v1/users',
    tags: ['accounts'],
    summary: 'Create a user (the first admin with the bootstrap ADMIN_TOKEN)',
    ...access('admin'),
    request: { body: jsonBody(newUser) },
    responses: { 201: json('Created.', user), ...errors(400, 401, 403, 409) },
  },
  {
    method: 'get',
    path: '/api/v1/users',
    tags: ['accounts'],
    summary: 'Every user',
    ...access('admin'),
    responses: { 200: json('The users.', z.object({ items: z.array(user) })), ...errors(401, 403) },
  },
  {
    method: 'delete',
    path: '/api/v1/users/{name}',
    tags: ['accounts'],
    summary: 'Delete a user',
    ...access('admin'),
    request: { params: z.object({ name: z.string().min(1) }) },
    responses: { 204: noContent, ...errors(401, 403, 404) },
  },
  {
    method: 'post',
    path: '/api/v1/keys',
    tags: ['accounts'],
    summary: 'Create an API key (members for themselves, admins for anyone); the key is shown once',
    ...access('signed-in'),
    request: { body: jsonBody(newKey) },
    responses: { 201: json('Created.', createdKey), ...errors(400, 401, 403) },
  },
  {
    method: 'get',
    path: '/api/v1/keys',
    tags: ['accounts'],
    summary: "The caller's keys (all keys for an admin), without the secrets",
    ...access('signed-in'),
    responses: { 200: json('The keys.', z.object({ items: z.array(keyView) })), ...errors(401) },
  },
  {
    method: 'delete',
    path: '/api/v1/keys/{id}',
    tags: ['accounts'],
    summary: 'Revoke a key (refused at once on every replica)',
    ...access('signed-in'),
    request: { params: z.object({ id: z.string().min(1) }) },
    responses: { 204: noContent, ...errors(401, 403, 404) },
  },
  {
    method: 'get',
    path: '/api/v1/audit',
    tags: ['accounts'],
    summary: 'Who created, changed and deleted what, and sign-ins, newest first',
    ...access('admin'),
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), before: isoDate.optional().meta({ description: 'nextCursor of the previous page' }) }) },
    responses: { 200: json('One page of the audit log.', auditPage), ...errors(400, 401, 403) },
  },
  {
    method: 'post',
    path: '/api/v1/images/{id}/retry',
    tags: ['images'],
    summary: 'Queue a failed image again',
    ...access('write'),
    request: { params: imageParams },
    responses: { 202: json('Queued again.', imageAccepted), ...errors(400, 401, 403, 404, 409) },
  },
];
