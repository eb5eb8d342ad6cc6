/**
 * docker-compose.yml cannot run here (no Docker engine), so check by reading:
 * it parses, every service the stack needs is there with a healthcheck, the app
 * services wait for healthy dependencies, and every variable handed to the app
 * is one that shared/config.ts knows (a typo would be silently ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { loadConfig } from '../shared/config.js';
import { JEMALLOC_PATH, WORKER_MALLOC_CONF, workerProcessEnv } from '../workers/process-settings.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: unknown;
  container_name?: string;
  ports?: string[];
}

const compose = parse(await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const configSource = await readFile(new URL('../shared/config.ts', import.meta.url), 'utf8');

test('compose defines the whole stack with healthchecks', () => {
  for (const name of ['mongo', 'redis', 'minio', 'api', 'worker']) {
    assert.ok(compose.services[name], `service ${name} missing`);
  }
  for (const name of ['mongo', 'redis', 'minio', 'api']) {
    assert.ok(compose.services[name]?.healthcheck?.test.length, `service ${name} has no healthcheck`);
  }
  assert.deepEqual(compose.services.api?.command, ['api']);
  assert.deepEqual(compose.services.worker?.command, ['worker']);
});

test('api and worker wait for healthy backing services', () => {
  for (const name of ['api', 'worker']) {
    const deps = compose.services[name]?.depends_on ?? {};
    assert.deepEqual(Object.keys(deps).sort(), ['minio', 'mongo', 'redis']);
    for (const d of Object.values(deps)) assert.equal(d.condition, 'service_healthy');
  }
});

test('the worker can be scaled: no fixed container name or host port', () => {
  const worker = compose.services.worker!;
  assert.equal(worker.container_name, undefined);
  assert.equal(worker.ports, undefined);
});

/** Read by Node and jemalloc rather than by hugemap's config; checked against the code below. */
const PROCESS_SETTINGS = new Set(['NODE_OPTIONS', 'MALLOC_CONF']);

test('every variable given to api and worker is a known configuration key, and valid', () => {
  for (const name of ['api', 'worker']) {
    const env = compose.services[name]?.environment ?? {};
    for (const key of Object.keys(env)) {
      if (name === 'worker' && PROCESS_SETTINGS.has(key)) continue;
      assert.match(configSource, new RegExp(`\\b${key}:`), `${name}: ${key} is not read by shared/config.ts`);
    }
    // Compose substitutes ${VAR:-default}; validate the defaults as the app would.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
    );
    assert.doesNotThrow(() => loadConfig(resolved), `${name}: environment does not validate`);
  }
});

test('the compose worker starts with the heap and allocator settings every other launcher gives a worker', () => {
  const env = compose.services.worker!.environment ?? {};
  const expected = workerProcessEnv({}, '/nonexistent'); // the preload comes from the Dockerfile
  assert.equal(env.NODE_OPTIONS, expected.NODE_OPTIONS);
  assert.equal(env.MALLOC_CONF, WORKER_MALLOC_CONF);
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  assert.ok(dockerfile.includes(`LD_PRELOAD=${JEMALLOC_PATH}`), 'the image preloads the jemalloc the settings are for');
});
