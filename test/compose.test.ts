/**
 * docker-compose.yml cannot run here (no Docker engine), so check by reading:
 * it parses, every service the stack needs is there with a healthcheck, the app
 * services wait for healthy dependencies, and every variable handed to the app
 * is one that shared/config.ts knows (a typo would be silently ignored).
 * Also the hardening: pinned images, no default secrets (.env.example lists what
 * to set), no published MinIO console, a memory limit and healthcheck on the
 * worker, read-only root filesystems, every security setting passed through,
 * the monitoring profile, and the Dockerfile's base, user and healthcheck.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { loadConfig } from '../shared/config.js';
import { JEMALLOC_PATH, WORKER_MALLOC_CONF, workerProcessEnv } from '../workers/process-settings.js';

interface Service {
  image?: string;
  profiles?: string[];
  volumes?: string[];
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[]; start_period?: string };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { resources?: { limits?: { memory?: string } } };
  container_name?: string;
  ports?: string[];
}

const composeText = await readFile(new URL('../docker-compose.yml', import.meta.url), 'utf8');
const compose = parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
};
const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');

/** .env.example as a map: what a user fills in, and the values the checks below substitute. */
const envExample = Object.fromEntries(
  readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

/** Compose's own substitution: `${VAR}`, `${VAR:-default}`, `${VAR:?message}`, from .env.example (a placeholder for required secrets left empty there). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_m, name: string, kind: string | undefined, rest: string) => {
    const given = envExample[name];
    if (given) return given;
    if (kind === '-') return rest;
    return kind === '?' ? 'placeholder-secret-0123456789abcdef' : '';
  });
}
const configSource = await readFile(new URL('../shared/config.ts', import.meta.url), 'utf8');

test('compose defines the whole stack with healthchecks', () => {
  for (const name of ['mongo', 'redis', 'minio', 'api', 'worker']) {
    assert.ok(compose.services[name], `service ${name} missing`);
  }
  for (const name of ['mongo', 'redis', 'minio', 'api', 'worker']) {
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
    // Compose substitutes ${VAR...}; validate what .env.example and the defaults give, as the app would.
    const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))]));
    assert.doesNotThrow(() => loadConfig(resolved), `${name}: environment does not validate`);
  }
});

test('the compose worker starts with the heap and allocator settings every other launcher gives a worker', () => {
  const env = compose.services.worker!.environment ?? {};
  const expected = workerProcessEnv({}, '/nonexistent'); // the preload comes from the Dockerfile
  assert.equal(env.NODE_OPTIONS, expected.NODE_OPTIONS);
  assert.equal(env.MALLOC_CONF, WORKER_MALLOC_CONF);
  assert.ok(dockerfile.includes(`LD_PRELOAD=${JEMALLOC_PATH}`), 'the image preloads the jemalloc the settings are for');
});

test('every image is pinned to a version: no :latest, no bare name', () => {
  assert.doesNotMatch(composeText, /:latest\b/);
  for (const [name, svc] of Object.entries(compose.services)) {
    assert.ok(svc.image, `${name} names no image`);
    const tag = svc.image.slice(svc.image.lastIndexOf(':') + 1);
    assert.ok(svc.image.includes(':') && /\d/.test(tag), `${name}: ${svc.image} is not pinned to a version`);
  }
});

test('no default secrets: every secret must be set (${VAR:?...}), and .env.example lists every variable', () => {
  assert.doesNotMatch(composeText, /change-me/i);
  const used = new Map<string, string>();
  for (const m of composeText.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g)) used.set(m[1]!, m[2] === '-' ? `default:${m[3]}` : m[2] === '?' ? 'required' : 'plain');
  for (const [name, how] of used) {
    if (/PASSWORD|SECRET|TOKEN|_KEY$/.test(name) && name !== 'S3_ACCESS_KEY_ID') {
      assert.ok(how === 'required' || how === 'default:', `${name} has a default (${how}): secrets must come from .env`);
    }
    assert.ok(name in envExample, `${name} is not in .env.example`);
  }
  for (const secret of ['MONGO_PASSWORD', 'REDIS_PASSWORD', 'S3_SECRET_ACCESS_KEY', 'ADMIN_TOKEN', 'GRAFANA_ADMIN_PASSWORD']) {
    assert.equal(used.get(secret), 'required', `${secret} must be \${${secret}:?...}`);
    assert.equal(envExample[secret], '', `.env.example must not suggest a value for ${secret}`);
  }
});

test('the MinIO console is not published; no app or metrics port but the API is', () => {
  assert.doesNotMatch(composeText, /9001:9001/);
  assert.equal(compose.services.minio!.ports, undefined);
  assert.ok(!(compose.services.minio!.command ?? []).some((a) => a.includes('console-address')));
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const p of svc.ports ?? []) {
      assert.ok(!/946[45]/.test(p), `${name} publishes a metrics port: ${p}`);
      if (name !== 'api') assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p} beyond loopback`);
    }
  }
});

/**
 * Settings that decide who may do what and how much: each must reach both processes, or compose
 * silently drops it. Found by name in the config schema, so a new one is checked too; settings the
 * schema only keeps to refuse (`z.undefined`, e.g. the removed ADMIN_USER) must not be passed.
 */
const SECURITY_NAME = /^(AUTH_|ADMIN_|DEFAULT_VISIBILITY$|TRUST_PROXY$|SESSION_|QUOTA_|RATE_LIMIT_|MAX_|MIN_UPLOAD_|HEADERS_TIMEOUT|SIGNING_KEY$|FETCH_ALLOW_HOSTS$|PUBLIC_BASE_URL$)/;
const schemaKeys = [...configSource.matchAll(/^  ([A-Z][A-Z0-9_]*): /gm)].map((m) => m[1]!);
const removedKeys = [...configSource.matchAll(/^  ([A-Z][A-Z0-9_]*): z\.undefined\(/gm)].map((m) => m[1]!);
const SECURITY_SETTINGS = schemaKeys.filter((k) => SECURITY_NAME.test(k) && !removedKeys.includes(k) && k !== 'MAX_BUFFERED_PIXELS');

test('every security setting is passed through to the API and the worker; removed ones are not', () => {
  assert.ok(SECURITY_SETTINGS.length >= 15, `found ${SECURITY_SETTINGS.join(', ')}`);
  for (const name of ['api', 'worker']) {
    for (const key of removedKeys) assert.equal(compose.services[name]!.environment?.[key], undefined, `${name} still gets the removed ${key}`);
  }
  for (const key of SECURITY_SETTINGS) {
    assert.match(configSource, new RegExp(`\\b${key}:`), `${key} is no longer a configuration key: update this list`);
    for (const name of ['api', 'worker']) {
      const value = compose.services[name]!.environment?.[key];
      assert.ok(value !== undefined, `${name} does not get ${key}`);
      assert.match(String(value), new RegExp(`\\$\\{${key}[:}]`), `${name}: ${key} is not taken from the environment`);
    }
  }
});

test('the worker has a memory limit with headroom over its peak, and a healthcheck on its metrics port', () => {
  const worker = compose.services.worker!;
  const limit = worker.deploy?.resources?.limits?.memory ?? '';
  const m = /^(\d+)([MG])$/.exec(limit);
  assert.ok(m, `worker memory limit "${limit}"`);
  const mb = Number(m[1]) * (m[2] === 'G' ? 1024 : 1);
  // About 300 MB at 944 MP (README, Memory): under 400 MB a gigapixel job would be killed.
  assert.ok(mb >= 400 && mb <= 2048, `worker memory limit ${mb} MB`);
  const port = worker.environment?.WORKER_METRICS_PORT;
  assert.ok(port, 'worker has WORKER_METRICS_PORT');
  assert.ok(worker.healthcheck!.test.join(' ').includes(`127.0.0.1:${port}/healthz`), 'worker healthcheck asks its /healthz');
});

test('api and worker run with a read-only root filesystem, writing only to a volume and a tmpfs', () => {
  const writable = /ENV[^]*?WORK_DIR=(\S+)[^]*?SCALE_CACHE_DIR=(\S+)/.exec(dockerfile);
  assert.ok(writable, 'the Dockerfile sets WORK_DIR and SCALE_CACHE_DIR');
  const volume = /^VOLUME \["([^"]+)"\]/m.exec(dockerfile)?.[1];
  assert.ok(volume, 'the Dockerfile declares a VOLUME');
  assert.ok(writable[1]!.startsWith(`${volume}/`) && writable[2]!.startsWith(`${volume}/`), 'work dir and scale cache live in the volume');
  for (const name of ['api', 'worker']) {
    const svc = compose.services[name]!;
    assert.equal(svc.read_only, true, `${name} read_only`);
    assert.deepEqual(svc.tmpfs, ['/tmp'], `${name} tmpfs`);
    assert.deepEqual(svc.cap_drop, ['ALL'], `${name} cap_drop`);
    assert.ok((svc.volumes ?? []).some((v) => v.endsWith(`:${volume}`)), `${name} mounts a volume at ${volume}`);
    assert.equal(svc.environment?.WORK_DIR, undefined, `${name} keeps the image's WORK_DIR`);
  }
});

test('the Dockerfile: a pinned Node LTS (22 or 24) base, a non-root user, a healthcheck', () => {
  const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
  assert.ok(bases.length >= 1);
  for (const base of bases) assert.match(base, /^node:(22|24)\.\d+\.\d+-(bookworm|trixie)-slim$/, `base image ${base}`);
  const user = [...dockerfile.matchAll(/^USER (\S+)/gm)].pop()?.[1];
  assert.ok(user, 'the Dockerfile sets a USER');
  assert.ok(!/^(root|0)(:|$)/.test(user), `USER ${user} is root`);
  assert.match(dockerfile, /^HEALTHCHECK .*CMD/m);
  const script = /HEALTHCHECK .*"(\/app\/[^"]+\.mjs)"/.exec(dockerfile)?.[1];
  assert.ok(script && existsSync(new URL(`..${script.slice('/app'.length)}`, import.meta.url)), `healthcheck script ${script} is in the repository`);
});

test('the monitoring profile starts Prometheus and Grafana with the rules and the dashboard loaded', () => {
  const prom = compose.services.prometheus!;
  const grafana = compose.services.grafana!;
  for (const svc of [prom, grafana]) assert.deepEqual(svc.profiles, ['monitoring']);
  const mounts = (svc: Service) => new Map((svc.volumes ?? []).map((v) => v.split(':')).filter((p) => p[0]!.startsWith('./')).map((p) => [p[1]!, p[0]!]));
  const promMounts = mounts(prom);
  const grafanaMounts = mounts(grafana);
  for (const [, source] of [...promMounts, ...grafanaMounts]) assert.ok(existsSync(new URL(`../${source.slice(2)}`, import.meta.url)), `${source} exists`);
  assert.equal(promMounts.get('/etc/prometheus/alerts.yml'), './deploy/prometheus/alerts.yml');
  const promConfig = parse(readFileSync(new URL('../deploy/prometheus/prometheus.yml', import.meta.url), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; dns_sd_configs: Array<{ names: string[]; port: number }> }>;
  };
  assert.ok(promConfig.rule_files.includes('/etc/prometheus/alerts.yml'));
  const scraped = new Map(promConfig.scrape_configs.map((c) => [c.dns_sd_configs[0]!.names[0]!, c.dns_sd_configs[0]!.port]));
  const env = compose.services.api!.environment!;
  assert.equal(String(scraped.get('api')), env.METRICS_PORT, 'Prometheus scrapes the API on METRICS_PORT');
  assert.equal(String(scraped.get('worker')), env.WORKER_METRICS_PORT, 'Prometheus scrapes workers on WORKER_METRICS_PORT');
  assert.equal(grafanaMounts.get('/etc/grafana/provisioning'), './deploy/grafana/provisioning');
  const dashboards = parse(readFileSync(new URL('../deploy/grafana/provisioning/dashboards/hugemap.yml', import.meta.url), 'utf8')) as {
    providers: Array<{ options: { path: string } }>;
  };
  const dashboardDir = dashboards.providers[0]!.options.path;
  assert.equal(grafanaMounts.get(`${dashboardDir}/hugemap.json`), './deploy/grafana/hugemap.json');
});
