/**
 * The OpenAPI 3.1 document of the HTTP API, generated from zod schemas with
 * @asteasolutions/zod-to-openapi and served at GET /api/v1/openapi.json
 * (readable at /api/docs).
 *
 * Adding a route: add one entry to the list of its group in ./paths/ (a new
 * group: one more list in PATH_GROUPS). test/openapi.test.ts fails while a
 * route of the app is missing here; docs/api.md says more.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { createRequire } from 'node:module';
import { accountPaths } from './paths/accounts.js';
import { annotationPaths } from './paths/annotations.js';
import { browsePaths } from './paths/browse.js';
import { imagePaths } from './paths/images.js';
import { servicePaths } from './paths/service.js';
import { uploadPaths } from './paths/uploads.js';
import { SECURITY_SCHEMES } from './responses.js';

const PATH_GROUPS: ReadonlyArray<readonly RouteConfig[]> = [imagePaths, annotationPaths, browsePaths, uploadPaths, accountPaths, servicePaths];

export const OPENAPI_PATH = '/api/v1/openapi.json';

// The package's own name resolves from source (tsx) and from dist/ alike (package.json exports ./package.json).
const { version } = createRequire(import.meta.url)('hugemap/package.json') as { version: string };

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

let built: OpenApiDocument | undefined;

/** Built once per process: the schemas do not change while it runs. */
export function openApiDocument(): OpenApiDocument {
  if (built) return built;
  const registry = new OpenAPIRegistry();
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) registry.registerComponent('securitySchemes', name, { ...scheme });
  for (const group of PATH_GROUPS) for (const route of group) registry.registerPath(route);
  built = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'hugemap API',
      version,
      description:
        'Turns huge pictures into zoomable maps (Deep Zoom tiles) and serves them. Every refusal is `{"error": {"code": "HUGEMAP_ERR_…", "message": "…"}}` ' +
        'with a stable code (docs/errors.md). `x-hugemap-access` on each operation says who may call it: anyone, signed-in, or a principal with the read, write or admin scope.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
  });
  return built;
}
