/**
 * /admin/queues: the BullMQ queue in bull-board, for operators: an admin user
 * signed in at /login, an admin-scoped API key, or the bootstrap ADMIN_TOKEN
 * as a bearer token (AUTH_MODE=open: everyone on this loopback machine).
 * A browser that is not signed in is sent to /login and back.
 * Read-only unless ADMIN_READ_ONLY=false.
 */
import { Router, type ErrorRequestHandler, type RequestHandler } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { HugemapError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';
import { requires } from '../access/requires.js';

export const ADMIN_BASE = '/admin/queues';

export function adminRouter(deps: ApiDeps): Router {
  const router = Router();
  const { admin } = deps.config;

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_BASE);
  createBullBoard({
    queues: [
      new BullMQAdapter(deps.queue, {
        readOnlyMode: admin.readOnly,
        allowRetries: !admin.readOnly,
        description: 'Tiling jobs; each job id is an image id',
        // The job id is the image id; /v/{id} shows its status while it is processed, the image once done.
        externalJobUrl: (job) => ({ href: `/v/${encodeURIComponent(String(job.id))}`, displayText: 'image status' }),
      }),
    ],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'hugemap queues' } },
  });
  const noStore: RequestHandler = (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  };
  // A person's browser that is not signed in goes to the sign-in page; API clients get the 401/403 body.
  const toSignIn: ErrorRequestHandler = (err, req, res, next) => {
    const refused = err instanceof HugemapError && (err.httpStatus === 401 || err.httpStatus === 403);
    if (refused && req.method === 'GET' && req.principal.kind === 'anonymous' && req.accepts(['json', 'html']) === 'html') {
      res.set('Cache-Control', 'no-store').redirect(302, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    next(err);
  };
  router.use(ADMIN_BASE, requires('admin'), noStore, serverAdapter.getRouter() as RequestHandler, toSignIn);
  return router;
}
