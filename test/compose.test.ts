/**
 * docker-compose.yml cannot run here (no Docker engine), so check by reading:
 * it parses, every service the stack needs is there with a healthcheck, the app
 * services wait for healthy dependencies, and every variable handed to the app
 * is one that shared/config.ts knows (a typo would be silently ignored).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { loadConfig } from '../shared/config.js';

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

test('every variable given to api and worker is a known configuration key, and valid', () => {
  for (const name of ['api', 'worker']) {
    const env = compose.services[name]?.environment ?? {};
    for (const key of Object.keys(env)) {
      assert.match(configSource, new RegExp(`\\b${key}:`), `${name}: ${key} is not read by shared/config.ts`);
    }
    // Compose substitutes ${VAR:-default}; validate the defaults as the app would.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
    );
    assert.doesNotThrow(() => loadConfig(resolved), `${name}: environment does not validate`);
  }
});
