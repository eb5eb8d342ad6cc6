/**
 * The Helm chart (deploy/helm/hugemap): `helm lint` and `helm template` with
 * ci/all-features-values.yaml, the kinds and security settings rendered, the
 * PrometheusRule equal to deploy/prometheus/alerts.yml, the KEDA trigger's list
 * name checked against a real BullMQ queue in Redis, and the manifests validated
 * by kubeconform against Kubernetes' own schemas (built offline from the
 * OpenAPI document tools/build-test-servers.sh fetches; CRD kinds are skipped,
 * their schemas are not in it).
 *
 * helm, kubeconform and that document come from tools/build-test-servers.sh. Without
 * them the test is skipped on a developer's machine; under CI=true it fails.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { QueueKeys } from 'bullmq';
import { Redis } from 'ioredis';
import { parse, parseAllDocuments } from 'yaml';
import { createTileQueue, TILE_QUEUE } from '../shared/queue.js';
import { configSchema, loadConfig } from '../shared/config.js';
import { useTestServers } from './helpers/servers.js';
import { writeKubeconformSchemas } from './helpers/k8s-json-schemas.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const chart = path.join(repo, 'deploy/helm/hugemap');
const allFeatures = path.join(chart, 'ci/all-features-values.yaml');
const toolsDir = process.env.HUGEMAP_TOOLS_DIR || path.join(os.homedir(), '.cache', 'hugemap-tools');
const helm = path.join(toolsDir, 'bin', 'helm');
const kubeconform = path.join(toolsDir, 'bin', 'kubeconform');
const swagger = path.join(toolsDir, 'k8s-openapi', 'swagger.json');
const missing = [helm, kubeconform, swagger].filter((f) => !existsSync(f));
const underCi = process.env.CI === 'true';
const notBuilt = missing.length > 0 ? `not built here (${missing.join(', ')}): run tools/build-test-servers.sh` : false;

test('helm, kubeconform and the Kubernetes OpenAPI document are installed (required under CI)', { skip: underCi ? false : notBuilt }, () => {
  assert.deepEqual(missing, [], 'tools/build-test-servers.sh builds them');
});

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: any;
}

async function template(...args: string[]): Promise<Manifest[]> {
  const { stdout } = await run(helm, ['template', 'hm', chart, ...args], { maxBuffer: 32 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

function byKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind);
}

describe('the Helm chart', { skip: notBuilt }, () => {
  let rendered: Manifest[];
  let renderedText: string;

  test('helm lint passes with the defaults and with every optional part on', async () => {
    const strict = await run(helm, ['lint', '--strict', chart, '-f', allFeatures]);
    assert.match(strict.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const defaults = await run(helm, ['lint', chart, '--set', 'existingSecret=creds']);
    assert.match(defaults.stdout, /0 chart\(s\) failed/);
  });

  test('helm template renders every kind with ci/all-features-values.yaml', async () => {
    rendered = await template('-f', allFeatures);
    renderedText = (await run(helm, ['template', 'hm', chart, '-f', allFeatures], { maxBuffer: 32 * 1024 * 1024 })).stdout;
    const kinds = rendered.map((m) => m.kind).sort();
    for (const kind of ['Deployment', 'Service', 'Ingress', 'PodDisruptionBudget', 'ScaledObject', 'TriggerAuthentication', 'ServiceMonitor', 'PrometheusRule']) {
      assert.ok(kinds.includes(kind), `${kind} not rendered (got ${kinds.join(', ')})`);
    }
    assert.deepEqual(byKind(rendered, 'Deployment').map((d) => d.metadata.name).sort(), ['hm-hugemap-api', 'hm-hugemap-worker']);
    assert.equal(byKind(rendered, 'PodDisruptionBudget').length, 2);
    assert.equal(byKind(rendered, 'HorizontalPodAutoscaler').length, 0, 'KEDA makes its own HPA');
  });

  test('both Deployments run non-root on a read-only root filesystem with every capability dropped', () => {
    for (const d of byKind(rendered, 'Deployment')) {
      const pod = d.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, `${d.metadata.name}: pod runAsNonRoot`);
      assert.equal(pod.automountServiceAccountToken, false);
      for (const c of pod.containers) {
        assert.equal(c.securityContext.runAsNonRoot, true, `${c.name}: runAsNonRoot`);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], `${c.name}: capabilities`);
        // What the processes write must be a volume: /tmp and the work dir and cache under /var/lib/hugemap.
        const mounts = c.volumeMounts.map((m: { mountPath: string }) => m.mountPath).sort();
        assert.deepEqual(mounts, ['/tmp', '/var/lib/hugemap']);
        const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
        assert.ok(env.WORK_DIR.startsWith('/var/lib/hugemap/') && env.SCALE_CACHE_DIR.startsWith('/var/lib/hugemap/'));
        assert.ok(c.resources.limits.memory && c.resources.requests.memory, `${c.name}: resources`);
        // Credentials come from the existing Secret only, never as literal values.
        assert.deepEqual(c.envFrom, [{ secretRef: { name: 'hugemap-credentials' } }]);
        for (const name of Object.keys(env)) assert.doesNotMatch(name, /SECRET|PASSWORD|TOKEN|SIGNING_KEY|REDIS_URL|MONGO_URL/, `${c.name}: ${name} set in values`);
      }
    }
  });

  test("every environment variable the chart sets is one the app knows, and valid together", () => {
    for (const d of byKind(rendered, 'Deployment')) {
      const env = Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
      for (const key of Object.keys(env)) {
        if (key === 'NODE_OPTIONS' || key === 'MALLOC_CONF' || key === 'TMPDIR') continue;
        assert.ok(key in configSchema.shape, `${d.metadata.name}: ${key} is not a configuration key`);
      }
      assert.doesNotThrow(() => loadConfig(env), `${d.metadata.name}: its environment does not validate`);
    }
  });

  test('the worker is probed on its metrics port /healthz and has no fixed replica count under KEDA', () => {
    const worker = byKind(rendered, 'Deployment').find((d) => d.metadata.name.endsWith('-worker'))!;
    assert.equal(worker.spec.replicas, undefined);
    const c = worker.spec.template.spec.containers[0];
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.livenessProbe.httpGet.port, 'metrics');
    const metricsPort = c.ports.find((p: { name: string }) => p.name === 'metrics').containerPort;
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    assert.equal(env.WORKER_METRICS_PORT, String(metricsPort));
    assert.equal(env.NODE_OPTIONS, '--max-semi-space-size=4 --expose-gc');
    // The chart's image size limits are the app's own defaults (10 GP, split above 1 GP), not older ones.
    for (const key of ['MAX_PIXELS', 'WORKER_SPLIT_PIXELS', 'WORKER_SPLIT_COLUMN_WIDTH'] as const) {
      assert.equal(Number(env[key]), configSchema.shape[key].parse(undefined), key);
    }
  });

  test('the ServiceMonitor scrapes the metrics ports, and the Ingress routes only the public one', () => {
    const [sm] = byKind(rendered, 'ServiceMonitor');
    assert.deepEqual(sm!.spec.endpoints.map((e: { port: string }) => e.port), ['metrics']);
    const services = byKind(rendered, 'Service');
    assert.equal(services.length, 2);
    for (const s of services) assert.ok(s.spec.ports.some((p: { name: string }) => p.name === 'metrics'), `${s.metadata.name} has a metrics port`);
    const [ingress] = byKind(rendered, 'Ingress');
    const backends = ingress!.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service));
    assert.deepEqual(backends, [{ name: 'hm-hugemap-api', port: { name: 'http' } }]);
  });

  test('the PrometheusRule carries exactly the rules of deploy/prometheus/alerts.yml', async () => {
    const [rule] = byKind(rendered, 'PrometheusRule');
    const file = parse(await readFile(path.join(repo, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: unknown };
    assert.deepEqual(rule!.spec.groups, file.groups);
  });

  test("KEDA's redis trigger watches the list BullMQ really keeps its waiting jobs in", async () => {
    const [so] = byKind(rendered, 'ScaledObject');
    const trigger = so!.spec.triggers[0];
    assert.equal(trigger.type, 'redis');
    assert.equal(so!.spec.scaleTargetRef.name, 'hm-hugemap-worker');
    assert.equal(trigger.authenticationRef.name, byKind(rendered, 'TriggerAuthentication')[0]!.metadata.name);
    const values = parse(await readFile(path.join(chart, 'values.yaml'), 'utf8')) as { config: { QUEUE_PREFIX: string } };
    const prefix = values.config.QUEUE_PREFIX;
    assert.equal(trigger.metadata.listName, new QueueKeys(prefix).toKey(TILE_QUEUE, 'wait'));
    // And on a real Redis: a job added by the API's queue code lands in that list.
    const servers = await useTestServers();
    const testPrefix = `helm-${Date.now()}`;
    const queue = createTileQueue(servers.redisUrl, testPrefix);
    const redis = new Redis(servers.redisUrl);
    try {
      await queue.add('tile', { imageId: 'a'.repeat(16) });
      const listName = trigger.metadata.listName.replace(new RegExp(`^${prefix}:`), `${testPrefix}:`);
      assert.equal(await redis.llen(listName), 1);
      assert.equal(await redis.type(listName), 'list');
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      redis.disconnect();
    }
  });

  test('the HPA alternative renders instead of KEDA, and both at once is refused', async () => {
    const hpaSet = 'worker.autoscaling.keda.enabled=false,worker.autoscaling.hpa.enabled=true,worker.autoscaling.hpa.queueMetric.enabled=true';
    const withHpa = await template('-f', allFeatures, '--set', hpaSet);
    assert.equal(byKind(withHpa, 'ScaledObject').length, 0);
    const [hpa] = byKind(withHpa, 'HorizontalPodAutoscaler');
    assert.equal(hpa!.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa!.spec.metrics.map((m: { type: string }) => m.type), ['Resource', 'External']);
    assert.equal(hpa!.spec.metrics[1].external.metric.name, 'hugemap_queue_jobs');
    await assert.rejects(template('-f', allFeatures, '--set', 'worker.autoscaling.hpa.enabled=true'), /enable keda or hpa, not both/);
  });

  test('without existingSecret the chart refuses to render: it never makes up credentials', async () => {
    await assert.rejects(template(), /existingSecret is required/);
  });

  test('kubeconform validates every built-in kind strictly against the Kubernetes schemas', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-kubeconform-'));
    const schemas = path.join(dir, 'schemas');
    assert.ok((await writeKubeconformSchemas(swagger, schemas)) > 100);
    const manifests = path.join(dir, 'all-features.yaml');
    await writeFile(manifests, renderedText);
    const results = await kubeconformRun(schemas, manifests);
    const status = new Map(results.map((r) => [`${r.kind}/${r.name}`, r.status]));
    for (const m of rendered) {
      const expected = m.apiVersion.includes('keda.sh') || m.apiVersion.includes('monitoring.coreos.com') ? 'statusSkipped' : 'statusValid';
      assert.equal(status.get(`${m.kind}/${m.metadata.name}`), expected, `${m.kind}/${m.metadata.name}: ${JSON.stringify(results.find((r) => r.name === m.metadata.name))}`);
    }
    // The schemas are in force: an unknown field and a wrong type are caught.
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, renderedText.replace(/^(\s+)readOnlyRootFilesystem: true$/m, '$1readOnlyRootFileSystem: true').replace(/replicas: 2/, 'replicas: two'));
    const brokenResults = await kubeconformRun(schemas, broken);
    const api = brokenResults.find((r) => r.kind === 'Deployment' && r.name === 'hm-hugemap-api')!;
    assert.equal(api.status, 'statusInvalid');
    assert.match(api.msg, /readOnlyRootFileSystem|additionalProperties/);
    assert.match(api.msg, /replicas/);
  });
});

interface KubeconformResult {
  filename: string;
  kind: string;
  name: string;
  version: string;
  status: 'statusValid' | 'statusInvalid' | 'statusError' | 'statusSkipped' | 'statusEmpty';
  msg: string;
}

async function kubeconformRun(schemaDir: string, file: string): Promise<KubeconformResult[]> {
  const args = ['-strict', '-ignore-missing-schemas', '-verbose', '-output', 'json', '-schema-location', `${schemaDir}/{{ .ResourceKind }}{{ .KindSuffix }}.json`, file];
  const { stdout } = await run(kubeconform, args, { maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string; code?: number }) => {
    // Exit status 1 means "some resource is invalid"; the JSON on stdout says which.
    if (err.code === 1 && err.stdout) return { stdout: err.stdout };
    throw err;
  });
  return (JSON.parse(stdout) as { resources: KubeconformResult[] }).resources;
}
