/**
 * What every hugemap process exports about itself: prom-client's default
 * process metrics (process_resident_memory_bytes, nodejs_heap_*, event loop
 * lag...) and hugemap_memory_limit_bytes, the memory limit of the container
 * the process runs in, so "memory near the limit" is one ratio of two series
 * the process exports (deploy/prometheus/alerts.yml), without cAdvisor.
 */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client';

/** cgroup v2, then v1; a v1 "no limit" is a huge number, treated as none. */
const LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];
const NO_LIMIT_ABOVE = 2 ** 60;

export function registerProcessMetrics(registry: Registry, limitFiles: readonly string[] = LIMIT_FILES): void {
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'hugemap_memory_limit_bytes',
    help: "The memory limit of this process's cgroup (container); absent when there is none",
    registers: [registry],
    collect() {
      const limit = memoryLimit(limitFiles);
      if (limit === null) this.reset();
      else this.set(limit);
    },
  });
}

export function memoryLimit(files: readonly string[]): number | null {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    if (text === 'max') return null;
    const n = Number(text);
    return Number.isFinite(n) && n > 0 && n < NO_LIMIT_ABOVE ? n : null;
  }
  return null;
}
