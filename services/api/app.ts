/**
 * The HTTP API as an express app, built from its dependencies so tests can run
 * it against real servers on loopback ports. `server.ts` wires production.
 */
import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import type { ApiDeps } from './deps.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { OpenStreams } from './open-streams.js';
import { healthRouter } from './routes/health.js';
import { imagesRouter } from './routes/images.js';
import { tilesRouter } from './routes/tiles.js';
import { browseRouter } from './routes/browse.js';
import { scaledMetaRouter } from './routes/scaled-meta.js';
import { scaledRouter } from './routes/scaled.js';
import { iiifRouter } from './routes/iiif.js';
import { annotationsRouter } from './routes/annotations.js';
import { adminRouter } from './routes/admin.js';
import { pageNotFoundRouter, pagesRouter } from './routes/pages.js';
import { securityHeaders } from './security-headers.js';
import { apiDocsRouter } from './routes/api-docs.js';
import { TUS_PATH, tusRouter } from './tus.js';
import { resolvePrincipal } from './access/resolve-principal.js';
import { minimumUploadRate } from './upload-rate.js';
import { rateLimitsFor } from './access/rate-limits.js';
import { accountsRouter } from './routes/accounts.js';
import { requires } from './access/requires.js';
import { requestId } from './request-id.js';

export type { ApiDeps } from './deps.js';

export function createApp(deps: ApiDeps): Express {
  const streams = deps.streams ?? new OpenStreams();
  const app = express();
  app.disable('x-powered-by');
  if (deps.metrics) app.use(deps.metrics.middleware());
  // Which X-Forwarded-* to believe: decides req.ip (rate limits, audit) and req.secure (Secure cookies).
  app.set('trust proxy', deps.config.trustProxy);
  // The first middleware, so that every answer carries them: errors, tiles and originals included.
  app.use(securityHeaders(deps.config));
  app.use(
    pinoHttp({
      logger: deps.logger,
      // Probes and tile hits would drown everything else.
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || (req.url ?? '').startsWith('/tiles/') },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      quietReqLogger: true,
      // A caller's (or proxy's) X-Request-Id, else a new UUID; it travels into the job and the worker's logs.
      genReqId: requestId,
      // Method, path and status are enough; headers would log cookies and tokens.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  app.use(minimumUploadRate(deps.config));
  // Before every router: the one place that reads credentials.
  app.use(resolvePrincipal(deps));
  const writeLimit = rateLimitsFor(deps).writes;
  // Every chunk of a resumable upload is a PATCH: the upload counts once, when it is created.
  app.use((req, res, next) => (req.method === 'PATCH' && req.path.startsWith(`${TUS_PATH}/`) ? next() : writeLimit(req, res, next)));
  app.use(healthRouter(deps));
  app.use(apiDocsRouter());
  app.use(TUS_PATH, requires('write'), tusRouter(deps));
  app.use('/api/v1/images/:id/annotations', annotationsRouter(deps));
  app.use('/api/v1', accountsRouter(deps));
  app.use('/api/v1', browseRouter(deps));
  app.use('/api/v1/images', scaledMetaRouter(deps));
  app.use('/api/v1/images', imagesRouter(deps, streams));
  app.use('/tiles', tilesRouter(deps));
  app.use('/i', scaledRouter(deps));
  app.use('/iiif/3', iiifRouter(deps));
  app.use(pagesRouter(deps));
  app.use(adminRouter(deps));
  app.use(pageNotFoundRouter(deps));
  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
