/**
 * `hugemap users` and `hugemap keys` straight against MongoDB, checked through
 * the API that reads the same database: a key made by the CLI works, revoked
 * by the CLI it stops working; errors are one line with a code.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { useTestServers } from './helpers/servers.js';
import { startTestApi, type TestApi } from './helpers/api-harness.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
let api: TestApi;
after(async () => {
  await api?.close();
});
const servers = await useTestServers();

before(async () => {
  api = await startTestApi(servers, 'cli-accounts', { AUTH_MODE: 'required' });
});

function cli(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hugemap.ts', ...args], {
      cwd: repo,
      env: { ...process.env, MONGO_URL: api.config.mongoUrl, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

test('users add/list/remove and keys create/list/revoke, seen through the API', async () => {
  const added = await cli(['users', 'add', 'rita', '--role', 'member', '--quota-images', '5'], 'rita-password-123\n');
  assert.equal(added.code, 0, added.stderr);
  const listed = await cli(['users', 'list', '--json']);
  const users = JSON.parse(listed.stdout) as Array<{ name: string; role: string; quota: unknown }>;
  assert.deepEqual(users.map((u) => [u.name, u.role, u.quota]), [['rita', 'member', { images: 5 }]]);

  const signIn = await fetch(`${api.base}/api/v1/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"name":"rita","password":"rita-password-123"}' });
  assert.equal(signIn.status, 200, 'the password from stdin is the one stored');

  const made = await cli(['keys', 'create', '--user', 'rita', '--scopes', 'read,write', '--label', 'ci']);
  assert.equal(made.code, 0, made.stderr);
  const key = made.stdout.trim();
  assert.match(key, /^hm_[A-Za-z0-9_-]{43}$/);
  const auth = { Authorization: `Bearer ${key}` };
  assert.equal((await fetch(`${api.base}/api/v1/keys`, { headers: auth })).status, 200);

  const keys = JSON.parse((await cli(['keys', 'list', '--user', 'rita', '--json'])).stdout) as Array<{ id: string; label: string; key?: string }>;
  assert.equal(keys.length, 1);
  assert.equal(keys[0]!.label, 'ci');
  assert.equal(keys[0]!.key, undefined);
  const revoked = await cli(['keys', 'revoke', keys[0]!.id]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal((await fetch(`${api.base}/api/v1/keys`, { headers: auth })).status, 401);

  assert.equal((await cli(['users', 'remove', 'rita'])).code, 0);
  assert.deepEqual(JSON.parse((await cli(['users', 'list', '--json'])).stdout), []);
});

test('mistakes are one line with a code and exit 1', async () => {
  const cases: Array<[string[], string, RegExp]> = [
    [['users', 'add', 'Bad Name'], 'long-enough-pw\n', /^hugemap: HUGEMAP_ERR_USAGE: invalid user name/],
    [['users', 'add', 'sam'], 'short\n', /^hugemap: HUGEMAP_ERR_USAGE: the password must be at least 10 characters/],
    [['keys', 'create', '--user', 'nobody'], '', /^hugemap: HUGEMAP_ERR_NOT_FOUND: user nobody not found/],
    [['keys', 'revoke', 'no-such-key'], '', /^hugemap: HUGEMAP_ERR_NOT_FOUND: key no-such-key not found/],
  ];
  for (const [args, stdin, message] of cases) {
    const res = await cli(args, stdin);
    assert.equal(res.code, 1, args.join(' '));
    assert.match(res.stderr, message);
    assert.equal(res.stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
  }
  assert.equal((await cli(['users', 'add', 'tess', '--role', 'member'], 'tess-password-1\n')).code, 0);
  const twice = await cli(['users', 'add', 'tess'], 'tess-password-1\n');
  assert.match(twice.stderr, /^hugemap: HUGEMAP_ERR_CONFLICT: user tess already exists/);
  const memberAdmin = await cli(['keys', 'create', '--user', 'tess', '--scopes', 'admin']);
  assert.match(memberAdmin.stderr, /cannot carry admin/);
});
