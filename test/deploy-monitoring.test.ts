/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/ name only
 * series the processes really export: every metric name in their PromQL is
 * looked up in what a real API and a real worker serve on their metrics ports
 * (histograms with their _bucket, _sum and _count series).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import { useTestServers } from './helpers/servers.js';
import { testConfig } from './helpers/test-config.js';
import { startApiServer, type ApiServer } from '../services/api/server.js';
import { startWorker, type RunningWorker } from '../workers/start-worker.js';
import { memoryLimit } from '../shared/process-metrics.js';

const repo = new URL('..', import.meta.url);

/** PromQL words that are not metric names: aggregations, functions, operators, modifiers. */
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'atan2',
  'inf', 'nan',
]);

/**
 * Metric names in a PromQL expression: identifiers left after removing strings, label matchers,
 * grouping clauses, range and subquery brackets, and function calls.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1]) continue; // a function or aggregation call
    if (PROMQL_WORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Names declared by a /metrics page (`# TYPE` lines), with a histogram's three series. */
async function exportedNames(metricsUrl: string): Promise<Set<string>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name! + suffix);
  }
  return names;
}

interface Rule {
  alert: string;
  expr: string;
}

async function alertRules(): Promise<Rule[]> {
  const doc = parse(await readFile(new URL('deploy/prometheus/alerts.yml', repo), 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

async function dashboardExprs(): Promise<Array<{ panel: string; expr: string }>> {
  const dash = JSON.parse(await readFile(new URL('deploy/grafana/hugemap.json', repo), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  return dash.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
}

test('the PromQL name extraction finds names and skips functions, labels and keywords', () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (le, stage) (rate(hugemap_job_stage_duration_seconds_bucket{stage="tile"}[5m])))'),
    ['hugemap_job_stage_duration_seconds_bucket'],
  );
  assert.deepEqual(metricNames('process_resident_memory_bytes / hugemap_memory_limit_bytes > 0.9').sort(), ['hugemap_memory_limit_bytes', 'process_resident_memory_bytes']);
  assert.deepEqual(metricNames('min_over_time(max(hugemap_queue_jobs{state="waiting"})[15m:1m]) > 20'), ['hugemap_queue_jobs']);
  assert.deepEqual(metricNames('absent(up{job="x"}) or on() vector(0)'), ['up']);
});

test('hugemap_memory_limit_bytes reads the cgroup v2 or v1 limit, and none when unlimited', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hugemap-cgroup-'));
  const file = async (name: string, text: string) => {
    await writeFile(path.join(dir, name), text);
    return path.join(dir, name);
  };
  assert.equal(memoryLimit([await file('v2', '536870912\n')]), 536870912);
  assert.equal(memoryLimit([await file('v2max', 'max\n')]), null);
  assert.equal(memoryLimit([path.join(dir, 'absent'), await file('v1', '268435456\n')]), 268435456);
  assert.equal(memoryLimit([await file('v1none', '9223372036854771712\n')]), null);
  assert.equal(memoryLimit([path.join(dir, 'absent')]), null);
});

test('the alert rules cover the five situations the runbook describes', async () => {
  const rules = await alertRules();
  assert.deepEqual(rules.map((r) => r.alert).sort(), ['HugemapApi5xxRatio', 'HugemapJobFailureRatio', 'HugemapMemoryNearLimit', 'HugemapNoWorkerAlive', 'HugemapQueueBackingUp']);
  const runbook = await readFile(new URL('docs/runbook.md', repo), 'utf8');
  for (const r of rules) assert.match(runbook, new RegExp(`^## ${r.alert}$`, 'm'), `docs/runbook.md has no section for ${r.alert}`);
});

describe('dashboard and alerts name only exported series', () => {
  let api: ApiServer;
  let worker: RunningWorker;
  let exported: Set<string>;

  before(async () => {
    const servers = await useTestServers();
    const config = await testConfig(servers, 'monitoring', { METRICS_PORT: '0', WORKER_METRICS_PORT: '0', LOG_LEVEL: 'silent' });
    api = await startApiServer(config, { logger: pino({ level: 'silent' }) });
    worker = await startWorker(config, pino({ level: 'silent' }));
    exported = new Set([...(await exportedNames(api.metricsUrl!)), ...(await exportedNames(worker.metricsUrl!))]);
  });
  after(async () => {
    await worker?.close();
    await api?.close();
  });

  test('every alert expression', async () => {
    for (const { alert, expr } of await alertRules()) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${alert}: no metric name found in ${expr}`);
      for (const name of names) assert.ok(exported.has(name), `${alert}: ${name} is not exported by the API or a worker`);
    }
  });

  test('every dashboard query', async () => {
    const exprs = await dashboardExprs();
    assert.ok(exprs.length >= 10);
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${panel}: no metric name found in ${expr}`);
      for (const name of names) assert.ok(exported.has(name), `${panel}: ${name} is not exported by the API or a worker`);
    }
  });

  test('the dashboard shows what an operator needs', async () => {
    const titles = (await dashboardExprs()).map((e) => e.panel);
    for (const t of ['Queue depth', 'Jobs per second', 'Failure rate', 'Stage durations (p90)', 'Tiles per second', 'API request latency', 'Memory per process (RSS)']) {
      assert.ok(titles.includes(t), `panel ${t}`);
    }
    const exprs = (await dashboardExprs()).map((e) => e.expr).join('\n');
    assert.match(exprs, /histogram_quantile\(0\.5, [^\n]*hugemap_http_request_duration_seconds_bucket/);
    assert.match(exprs, /histogram_quantile\(0\.99, [^\n]*hugemap_http_request_duration_seconds_bucket/);
    // A split image's band and assembling jobs apart from whole images (workers/metrics.ts, kind).
    assert.match(exprs, /sum by \(kind, result\) \(rate\(hugemap_jobs_total/);
  });
});
