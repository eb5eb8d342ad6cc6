/** Building blocks for the path files: a JSON answer, the shared error answers, an id parameter. */
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { errorBody, imageId } from './schemas.js';

export function json(description: string, schema: z.ZodType): ResponseConfig {
  return { description, content: { 'application/json': { schema } } };
}

export function jsonBody(schema: z.ZodType, description?: string) {
  return { ...(description ? { description } : {}), required: true, content: { 'application/json': { schema } } };
}

export const noContent: ResponseConfig = { description: 'Done; no body.' };

const ERROR_MEANINGS: Record<number, string> = {
  400: 'Malformed request (HUGEMAP_ERR_BAD_REQUEST, HUGEMAP_ERR_URL_FORBIDDEN, ...).',
  401: 'No credential, or an unknown, expired or revoked one (HUGEMAP_ERR_UNAUTHENTICATED).',
  403: 'The caller may not do this (HUGEMAP_ERR_FORBIDDEN).',
  404: 'No such image or object, or one the caller may not see (HUGEMAP_ERR_NOT_FOUND).',
  409: 'Conflicts with what exists (HUGEMAP_ERR_CONFLICT).',
  413: 'Too large (HUGEMAP_ERR_UPLOAD_TOO_LARGE, HUGEMAP_ERR_TOO_MANY_PIXELS, HUGEMAP_ERR_QUOTA_EXCEEDED).',
  415: 'Not a supported image (HUGEMAP_ERR_NOT_AN_IMAGE).',
  422: 'The input cannot be processed (HUGEMAP_ERR_EMPTY_INPUT, HUGEMAP_ERR_CORRUPT_IMAGE, ...).',
  429: 'Too many requests (HUGEMAP_ERR_RATE_LIMITED); see Retry-After.',
  503: 'A backing server (Redis, MongoDB, S3) did not answer; try again.',
};

/** The error answers a route can give, each with the shared `{error:{code,message}}` body. */
export function errors(...statuses: number[]): Record<number, ResponseConfig> {
  return Object.fromEntries(statuses.map((s) => [s, json(ERROR_MEANINGS[s] ?? 'Refused.', errorBody)]));
}

/** Path parameters of routes under /api/v1/images/{id}. */
export const imageParams = z.object({ id: imageId });

/** How a caller proves who they are; see docs/api.md. */
export const SECURITY_SCHEMES = {
  apiKey: { type: 'http', scheme: 'bearer', description: 'An API key (`hm_...`), or the bootstrap ADMIN_TOKEN.' },
  session: { type: 'apiKey', in: 'cookie', name: 'hugemap_session', description: 'The browser session set by POST /api/v1/session.' },
} as const;

export type AccessRule = 'anyone' | 'signed-in' | 'read' | 'write' | 'admin';

/**
 * Who may call a route: the rule its `requires(...)` declares
 * (services/api/access/requires.ts), as `x-hugemap-access`, plus the
 * credentials it takes (none needed for `anyone`).
 */
export function access(rule: AccessRule): { 'x-hugemap-access': AccessRule; security: Array<Record<string, string[]>> } {
  const credentials: Array<Record<string, string[]>> = [{ apiKey: rule === 'anyone' || rule === 'signed-in' ? [] : [rule] }, { session: [] }];
  return { 'x-hugemap-access': rule, security: rule === 'anyone' ? [{}, ...credentials] : credentials };
}
