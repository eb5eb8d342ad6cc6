/**
 * The routes an express 5 app serves, found by walking its router
 * (app.router.stack): each route's method and full path, mount paths of
 * nested routers included, in OpenAPI's form (`/images/{id}`, not `/images/:id`).
 * Middleware mounted with `app.use(path, fn)` that is not a router (the tus
 * handler) is listed with method `use`.
 */
import type { Express } from 'express';
import { declaredRule, type AccessRule } from '../../services/api/access/requires.js';

export interface ServedRoute {
  method: string;
  path: string;
  /** What its first handler's `requires(...)` declares, if it does. */
  rule: AccessRule | undefined;
}

interface Layer {
  rawPath?: string | RegExp | Array<string | RegExp>;
  route?: { path: string | string[]; stack: Array<{ method?: string; handle?: unknown }> };
  handle: { stack?: Layer[] } & ((...args: unknown[]) => unknown);
  name?: string;
}

function joinPath(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function walk(stack: Layer[], prefix: string, out: ServedRoute[]): void {
  for (const layer of stack) {
    const raw = layer.rawPath;
    const paths = (Array.isArray(raw) ? raw : [raw]).filter((p): p is string => typeof p === 'string');
    if (layer.route) {
      const routePaths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      const methods = new Set(layer.route.stack.map((l) => l.method).filter((m): m is string => !!m));
      const rule = declaredRule(layer.route.stack[0]?.handle);
      for (const p of routePaths) for (const method of methods) out.push({ method, path: openApiPath(joinPath(prefix, p)), rule });
    } else if (Array.isArray(layer.handle.stack)) {
      for (const p of paths.length > 0 ? paths : ['/']) walk(layer.handle.stack, joinPath(prefix, p), out);
    } else if (paths.some((p) => p !== '/')) {
      const rule = declaredRule(layer.handle);
      for (const p of paths) if (p !== '/') out.push({ method: 'use', path: openApiPath(joinPath(prefix, p)), rule });
    }
  }
}

export function servedRoutes(app: Express): ServedRoute[] {
  const out: ServedRoute[] = [];
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '/', out);
  // `app.use(path, requires(...), handler)` is two layers: keep one entry, with the declared rule.
  const seen = new Map<string, ServedRoute>();
  for (const route of out) {
    const key = `${route.method} ${route.path}`;
    const earlier = seen.get(key);
    if (!earlier) seen.set(key, route);
    else earlier.rule ??= route.rule;
  }
  return [...seen.values()];
}
