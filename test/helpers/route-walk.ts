/**
 * Lists every endpoint of an express app by walking its router (express 5 /
 * router 2: `app.router.stack`), with the access rule each declares through
 * `requires(...)` (services/api/access/requires.ts).
 *
 * - A route's rule is its first handler's declaration.
 * - `router.use(path, requires(rule), ...)` declares the rule for everything
 *   mounted after it at that same path in that stack (static folders, tus,
 *   bull-board), and sub-routers mounted there inherit it.
 * - Middleware mounted at `/` (parsers, headers, 404 and error handlers) is
 *   cross-cutting, not an endpoint; any other mounted function is an endpoint.
 */
import type { Express } from 'express';
import { declaredRule, type AccessRule } from '../../services/api/access/requires.js';

export interface Endpoint {
  method: string;
  path: string;
  rule: AccessRule | undefined;
}

interface LayerLike {
  rawPath?: unknown;
  handle: ((...args: unknown[]) => unknown) & { stack?: LayerLike[] };
  route?: { path: unknown; methods: Record<string, boolean>; stack: Array<{ handle: unknown; method?: string }> };
}

export function endpointsOf(app: Express): Endpoint[] {
  const stack = (app as unknown as { router: { stack: LayerLike[] } }).router.stack;
  return walk(stack, '', undefined);
}

function joinPath(prefix: string, raw: unknown): string {
  const part = Array.isArray(raw) ? raw.join('|') : typeof raw === 'string' ? raw : String(raw ?? '');
  if (part === '' || part === '/') return prefix || '/';
  return `${prefix}${part}`;
}

function walk(stack: LayerLike[], prefix: string, inherited: AccessRule | undefined): Endpoint[] {
  const found: Endpoint[] = [];
  const mountRules = new Map<string, AccessRule>();
  for (const layer of stack) {
    const raw = Array.isArray(layer.rawPath) ? layer.rawPath.join('|') : String(layer.rawPath ?? '/');
    if (layer.route) {
      const rule = declaredRule(layer.route.stack[0]?.handle) ?? mountRules.get('/') ?? inherited;
      const path = joinPath(prefix, layer.route.path);
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') found.push({ method: method.toUpperCase(), path, rule });
      if (layer.route.methods._all) found.push({ method: 'ALL', path, rule });
      continue;
    }
    const own = declaredRule(layer.handle);
    if (own) {
      mountRules.set(raw, own);
      continue;
    }
    const rule = mountRules.get(raw) ?? inherited;
    if (Array.isArray(layer.handle.stack)) {
      found.push(...walk(layer.handle.stack, raw === '/' ? prefix : `${prefix}${raw}`, rule));
    } else if (raw !== '/') {
      found.push({ method: 'USE', path: joinPath(prefix, raw), rule });
    }
  }
  return found;
}
