/**
 * /healthz: the process answers. /readyz: Redis, MongoDB and S3 all answer
 * within the deadline; a load balancer sends no traffic until they do.
 */
import { Router } from 'express';
import type { ApiDeps } from '../deps.js';
import { requires } from '../access/requires.js';

const READY_TIMEOUT_MS = 2_000;

type CheckResult = 'ok' | `failed: ${string}`;

export function healthRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/healthz', requires('anyone'), (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ ok: true });
  });
  router.get('/readyz', requires('anyone'), async (_req, res) => {
    const [redis, mongodb, s3] = await Promise.all([
      // A real round trip on the queue's own connection (BullMQ's client type has no PING).
      check(() => deps.queue.count()),
      check(() => deps.store.ping()),
      check(() => deps.s3.ping()),
    ]);
    const checks = { redis, mongodb, s3 };
    const failed = Object.entries(checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
    res.set('Cache-Control', 'no-store');
    if (failed.length === 0) {
      res.json({ ok: true, checks });
    } else {
      res.status(503).json({
        ok: false,
        checks,
        error: { code: 'HUGEMAP_ERR_NOT_READY', message: `not ready: ${failed.join(', ')} did not answer` },
      });
    }
  });
  return router;
}

async function check(probe: () => Promise<unknown>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), deadline]);
    return 'ok';
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return `failed: ${(message.split('\n')[0] ?? '').slice(0, 200)}`;
  } finally {
    clearTimeout(timer);
  }
}
