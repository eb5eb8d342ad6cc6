/**
 * `hugemap users add|list|remove` and `hugemap keys create|list|revoke`: for
 * operators, straight to MongoDB (MONGO_URL), so they work before any admin
 * exists and while the API is down. Passwords come on stdin (never as an
 * argument, which other users of the machine can read in the process list).
 */
import { Command, Option } from 'commander';
import { MongoClient } from 'mongodb';
import type { AccountsStore, QuotaOverrides, Role, Scope } from '../../shared/accounts/accounts-store.js';
import { withExamples } from '../help-examples.js';

async function withAccounts<T>(work: (accounts: AccountsStore) => Promise<T>): Promise<T> {
  const { loadConfig } = await import('../../shared/config.js');
  const { AccountsStore } = await import('../../shared/accounts/accounts-store.js');
  const config = loadConfig();
  const client = new MongoClient(config.mongoUrl, { serverSelectionTimeoutMS: 10_000, appName: 'hugemap-cli' });
  try {
    await client.connect();
    return await work(await AccountsStore.open(client.db()));
  } finally {
    await client.close();
  }
}

/** Runs an action; a failure prints one line with its code and exits 1. */
function action<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (err) {
      const { toHugemapError } = await import('../../shared/errors.js');
      const e = toHugemapError(err);
      process.stderr.write(`hugemap: ${e.code}: ${e.message}\n`);
      process.exitCode = 1;
    }
  };
}

async function readPassword(): Promise<string> {
  const { UsageError } = await import('../../shared/errors.js');
  if (process.stdin.isTTY) throw new UsageError('give the password on stdin, e.g. `printf %s "$PASSWORD" | hugemap users add NAME`');
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  const password = text.replace(/\r?\n$/, '');
  if (password.length < 10) throw new UsageError('the password must be at least 10 characters');
  return password;
}

const print = (value: unknown, json: boolean, line: (v: never) => string) => {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else for (const v of value as never[]) process.stdout.write(`${line(v)}\n`);
};

export function usersCommand(): Command {
  const users = new Command('users').description('manage users in MongoDB directly (MONGO_URL), for operators');
  const add = users
    .command('add')
    .description('create a user; the password is read from stdin')
    .argument('<name>', 'lower-case letters, digits, . _ - (at most 63)')
    .addOption(new Option('--role <role>', 'admin or member').choices(['admin', 'member']).default('member'))
    .option('--quota-bytes <n>', 'override QUOTA_BYTES for this user', Number)
    .option('--quota-images <n>', 'override QUOTA_IMAGES for this user', Number)
    .option('--quota-pixels <n>', 'override QUOTA_PIXELS for this user', Number)
    .action(
      action(async (name: string, opts: { role: Role; quotaBytes?: number; quotaImages?: number; quotaPixels?: number }) => {
        const { USER_NAME } = await import('../../shared/accounts/accounts-store.js');
        const { UsageError } = await import('../../shared/errors.js');
        if (!USER_NAME.test(name)) throw new UsageError(`invalid user name "${name}": lower-case letters, digits, . _ - (at most 63)`);
        const quota: QuotaOverrides = {};
        for (const [key, value] of [['bytes', opts.quotaBytes], ['images', opts.quotaImages], ['pixels', opts.quotaPixels]] as const) {
          if (value === undefined) continue;
          if (!Number.isInteger(value) || value < 0) throw new UsageError(`--quota-${key} must be a whole number >= 0`);
          quota[key] = value;
        }
        const password = await readPassword();
        await withAccounts(async (accounts) => {
          const user = await accounts.createUser(name, password, opts.role, quota);
          await accounts.record({ actor: null, via: 'cli', action: 'user.create', target: `user:${user._id}`, address: null, detail: { role: user.role } });
        });
        process.stderr.write(`hugemap: user ${name} (${opts.role}) created\n`);
      }),
    );
  const list = users
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const { toUserView } = await import('../../shared/accounts/accounts-store.js');
        const list = await withAccounts(async (accounts) => (await accounts.listUsers()).map(toUserView));
        print(list, opts.json === true, (u: { name: string; role: string; createdAt: string }) => `${u.name}\t${u.role}\t${u.createdAt}`);
      }),
    );
  const remove = users
    .command('remove')
    .description('remove a user with all their keys and sessions (their images stay)')
    .argument('<name>')
    .action(
      action(async (name: string) => {
        await withAccounts(async (accounts) => {
          await accounts.removeUser(name);
          await accounts.record({ actor: null, via: 'cli', action: 'user.delete', target: `user:${name}`, address: null });
        });
        process.stderr.write(`hugemap: user ${name} removed\n`);
      }),
    );
  withExamples(add, [
    ['printf %s "$ALICE_PASSWORD" | hugemap users add alice', 'a member; the password on stdin, never as an argument'],
    ['printf %s "$OPS_PASSWORD" | hugemap users add ops --role admin', 'an admin'],
  ]);
  withExamples(list, [
    ['hugemap users list', 'name, role and creation time, one user a line'],
    ['hugemap users list --json', 'for scripts'],
  ]);
  withExamples(remove, [
    ['hugemap users remove bob', 'bob, his keys and sessions (his images stay)'],
    ['MONGO_URL=mongodb://db:27017/hugemap hugemap users remove bob', 'on another database'],
  ]);
  return withExamples(users, [
    ['printf %s "$PASSWORD" | hugemap users add alice --role member', 'create a user'],
    ['hugemap users list --json', 'list them'],
  ]);
}

export function keysCommand(): Command {
  const keys = new Command('keys').description('manage API keys in MongoDB directly (MONGO_URL), for operators');
  const create = keys
    .command('create')
    .description('create an API key for a user and print it once on stdout')
    .requiredOption('--user <name>', 'the key belongs to this user')
    .option('--scopes <list>', 'comma-separated: read, write, admin', 'read,write')
    .option('--label <text>', 'what the key is for')
    .option('--expires <iso-date>', 'expiry, e.g. 2027-06-30T00:00:00Z')
    .action(
      action(async (opts: { user: string; scopes: string; label?: string; expires?: string }) => {
        const { scopesAllowed } = await import('../../shared/accounts/accounts-store.js');
        const { NotFoundError, UsageError } = await import('../../shared/errors.js');
        const scopes = [...new Set(opts.scopes.split(',').map((s) => s.trim()).filter(Boolean))];
        const unknown = scopes.filter((s) => !['read', 'write', 'admin'].includes(s));
        if (scopes.length === 0 || unknown.length > 0) throw new UsageError(`--scopes takes read, write, admin (got ${opts.scopes})`);
        const expiresAt = opts.expires === undefined ? null : new Date(opts.expires);
        if (expiresAt !== null && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
          throw new UsageError('--expires must be a date in the future (ISO 8601)');
        }
        const made = await withAccounts(async (accounts) => {
          const user = await accounts.getUser(opts.user);
          if (!user) throw new NotFoundError(`user ${opts.user}`);
          const refused = scopes.filter((s) => !scopesAllowed(user.role).includes(s as Scope));
          if (refused.length > 0) throw new UsageError(`a ${user.role}'s key cannot carry ${refused.join(', ')}`);
          const created = await accounts.createKey(user._id, scopes as Scope[], opts.label ?? null, expiresAt);
          await accounts.record({ actor: null, via: 'cli', action: 'key.create', target: `key:${created.doc._id}`, address: null, detail: { user: user._id, scopes } });
          return created;
        });
        process.stdout.write(`${made.key}\n`);
        process.stderr.write(`hugemap: key ${made.doc._id} for ${opts.user} (${scopes.join(',')}); it is shown only this once\n`);
      }),
    );
  const listKeys = keys
    .command('list')
    .description("list keys (never the keys themselves): everyone's, or one user's")
    .option('--user <name>', 'only this user')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { user?: string; json?: boolean }) => {
        const { toKeyView } = await import('../../shared/accounts/accounts-store.js');
        const list = await withAccounts(async (accounts) => (await accounts.listKeys(opts.user)).map(toKeyView));
        print(list, opts.json === true, (k: { id: string; user: string; scopes: string[]; label: string | null; expiresAt: string | null }) =>
          `${k.id}\t${k.user}\t${k.scopes.join(',')}\t${k.label ?? ''}\t${k.expiresAt ?? 'no expiry'}`,
        );
      }),
    );
  const revoke = keys
    .command('revoke')
    .description('revoke a key by its id: refused by every API replica from the next request on')
    .argument('<id>')
    .action(
      action(async (id: string) => {
        const { NotFoundError } = await import('../../shared/errors.js');
        await withAccounts(async (accounts) => {
          if (!(await accounts.revokeKey(id))) throw new NotFoundError(`key ${id}`);
          await accounts.record({ actor: null, via: 'cli', action: 'key.revoke', target: `key:${id}`, address: null });
        });
        process.stderr.write(`hugemap: key ${id} revoked\n`);
      }),
    );
  withExamples(create, [
    ['hugemap keys create --user alice --scopes read,write --label laptop', 'a key for alice, printed once'],
    ['hugemap keys create --user ops --scopes read,admin --expires 2027-01-31T00:00:00Z', 'an admin key that expires'],
  ]);
  withExamples(listKeys, [
    ['hugemap keys list', "everyone's keys (never the keys themselves)"],
    ['hugemap keys list --user alice --json', "alice's, for scripts"],
  ]);
  withExamples(revoke, [
    ['hugemap keys list --user alice', 'find the id'],
    ['hugemap keys revoke Xy3kP0aB1cD2', 'revoke it'],
  ]);
  return withExamples(keys, [
    ['hugemap keys create --user alice --scopes read,write', 'create a key'],
    ['hugemap keys revoke KEY_ID', 'revoke one'],
  ]);
}
