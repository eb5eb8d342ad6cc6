/**
 * Every endpoint of the API declares who may call it (requires(...)), found by
 * walking the real app's router: a new route without a declaration fails here.
 * Also pins the rule of the routes that change things, so a write cannot
 * quietly become `anyone`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { createApp } from '../services/api/app.js';
import { requires } from '../services/api/access/requires.js';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';
import { endpointsOf, type Endpoint } from './helpers/route-walk.js';

let api: TestApi;
after(async () => {
  await api?.close();
});
const servers = await useTestServers();
let endpoints: Endpoint[];

before(async () => {
  api = await startTestApi(servers, 'access-decl', { AUTH_MODE: 'required', ADMIN_TOKEN: 'bootstrap-token-0123456789' });
  endpoints = endpointsOf(createApp(api.deps));
  if (process.env.PRINT_ENDPOINTS) for (const e of endpoints) console.log('EP', e.method, e.path, e.rule);
});

test('the walker finds an undeclared route, a declared one and a declared mount', () => {
  const app = express();
  const sub = express.Router();
  sub.get('/fine', requires('anyone'), (_req, res) => void res.end());
  sub.post('/forgotten', (_req, res) => void res.end());
  app.use('/api', sub);
  app.use('/files', requires('admin'), express.static('/nonexistent'));
  app.use('/loose', express.static('/nonexistent'));
  const found = endpointsOf(app);
  assert.deepEqual(found, [
    { method: 'GET', path: '/api/fine', rule: 'anyone' },
    { method: 'POST', path: '/api/forgotten', rule: undefined },
    { method: 'USE', path: '/files', rule: 'admin' },
    { method: 'USE', path: '/loose', rule: undefined },
  ]);
});

test('every endpoint of the API declares who may call it', () => {
  assert.ok(endpoints.length >= 40, `found only ${endpoints.length} endpoints: the walk is broken`);
  const undeclared = endpoints.filter((e) => e.rule === undefined).map((e) => `${e.method} ${e.path}`);
  assert.deepEqual(undeclared, [], `routes without requires(...): ${undeclared.join(', ')}`);
});

test('routes that change things need a principal', () => {
  const rule = (method: string, path: string) => endpoints.find((e) => e.method === method && e.path === path)?.rule;
  const expected: Array<[string, string, string]> = [
    ['POST', '/api/v1/images', 'write'],
    ['PATCH', '/api/v1/images/:id', 'write'],
    ['DELETE', '/api/v1/images/:id', 'write'],
    ['POST', '/api/v1/images/:id/annotations', 'write'],
    ['PATCH', '/api/v1/images/:id/annotations/:annotationId', 'write'],
    ['DELETE', '/api/v1/images/:id/annotations/:annotationId', 'write'],
    ['USE', '/api/v1/uploads', 'write'],
    ['POST', '/api/v1/users', 'admin'],
    ['GET', '/api/v1/users', 'admin'],
    ['DELETE', '/api/v1/users/:name', 'admin'],
    ['POST', '/api/v1/keys', 'signed-in'],
    ['DELETE', '/api/v1/keys/:id', 'signed-in'],
    ['GET', '/api/v1/audit', 'admin'],
    ['POST', '/api/v1/session', 'anyone'],
    ['DELETE', '/api/v1/session', 'signed-in'],
  ];
  for (const [method, path, want] of expected) assert.equal(rule(method, path), want, `${method} ${path}`);
  // Anything under the queue dashboard is the admins'.
  const dashboard = endpoints.filter((e) => e.path.startsWith('/admin/queues'));
  assert.ok(dashboard.length > 0, 'the dashboard is mounted');
  for (const e of dashboard) assert.equal(e.rule, 'admin', `${e.method} ${e.path}`);
  // No write is open to anyone, but signing in.
  const openWrites = endpoints.filter((e) => ['POST', 'PATCH', 'PUT', 'DELETE'].includes(e.method) && e.rule === 'anyone').map((e) => `${e.method} ${e.path}`);
  assert.deepEqual(openWrites, ['POST /api/v1/session']);
});
