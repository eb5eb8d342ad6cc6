/**
 * The audit trail's writer for routes: who (the principal, or an explicit
 * actor for sign-ins), how, what, to what, from which address. A failed write
 * is logged, never fails the request it records.
 */
import type { Request } from 'express';
import type { ApiDeps } from '../deps.js';
import { accountsFor } from './accounts.js';

export type AuditFn = (
  req: Request,
  action: string,
  target: string | null,
  opts?: { actor?: string | null; via?: string; detail?: Record<string, unknown> },
) => Promise<void>;

export function auditFrom(deps: Pick<ApiDeps, 'store' | 'logger'>): AuditFn {
  return async (req, action, target, opts = {}) => {
    const p = req.principal;
    const actor = opts.actor !== undefined ? opts.actor : p.kind === 'user' ? p.name : null;
    const via = opts.via ?? (p.kind === 'user' ? (p.via === 'key' ? `key:${p.keyId}` : p.via) : null);
    try {
      await (await accountsFor(deps)).record({ actor, via, action, target, address: req.ip ?? null, ...(opts.detail ? { detail: opts.detail } : {}) });
    } catch (err) {
      deps.logger.warn({ err, action, target }, 'could not write an audit entry');
    }
  };
}
