/**
 * The API reference: the OpenAPI document at GET /api/v1/openapi.json, and a
 * readable page at GET /api/docs (Swagger UI from the swagger-ui-dist package,
 * served from here with its start script in web/js/api-docs.js), so the page
 * loads nothing from another host and works offline.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import { openApiDocument, OPENAPI_PATH } from '../openapi/document.js';
import { requires } from '../access/requires.js';

export const API_DOCS_PATH = '/api/docs';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Only the two files the page needs; the package's own index.html and initializer point at a demo API on the internet. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hugemap API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${API_DOCS_PATH}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="${OPENAPI_PATH}"></div>
<script src="${API_DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="/static/js/api-docs.js"></script>
</body>
</html>
`;

export function apiDocsRouter(): Router {
  const router = Router();

  router.get(OPENAPI_PATH, requires('anyone'), (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(openApiDocument());
  });

  router.get(API_DOCS_PATH, requires('anyone'), (_req, res) => {
    res.set({ 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' }).type('html').send(PAGE);
  });

  router.get(`${API_DOCS_PATH}/:asset`, requires('anyone'), (req, res, next) => {
    const asset = String(req.params.asset);
    const type = Object.hasOwn(ASSETS, asset) ? ASSETS[asset] : undefined;
    if (!type) return next();
    res.set({ 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' }).type(type);
    res.sendFile(join(swaggerUiDir, asset));
  });

  return router;
}
