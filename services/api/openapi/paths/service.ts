/** The service's own routes: this document, and the probes for load balancers and orchestrators. */
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { access, json } from '../responses.js';
import { health, readiness } from '../schemas.js';

export const servicePaths: RouteConfig[] = [
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    tags: ['service'],
    summary: 'This document (OpenAPI 3.1); a readable version is at /api/docs',
    ...access('anyone'),
    responses: { 200: json('The OpenAPI document.', z.object({ openapi: z.string() }).passthrough()) },
  },
  {
    method: 'get',
    path: '/healthz',
    tags: ['service'],
    summary: 'Alive (the process answers)',
    ...access('anyone'),
    responses: { 200: json('Alive.', health) },
  },
  {
    method: 'get',
    path: '/readyz',
    tags: ['service'],
    summary: 'Ready: Redis, MongoDB and S3 answer',
    ...access('anyone'),
    responses: { 200: json('Ready.', readiness), 503: json('A server did not answer (HUGEMAP_ERR_NOT_READY).', readiness) },
  },
];
