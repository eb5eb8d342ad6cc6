/**
 * Security headers on every response (helmet, the app's first middleware, so
 * errors, tiles and originals carry them too): a Content-Security-Policy whose
 * scripts come only from our own files, nosniff, a Referrer-Policy, and no
 * framing by other sites except for the views made to be embedded
 * (`allowAnyFrameAncestor`).
 */
import helmet from 'helmet';
import type { RequestHandler, Response } from 'express';
import type { Config } from '../../shared/config.js';

type Directives = Record<string, string[] | null>;

function directives(config: Pick<Config, 'publicBaseUrl'>, frameAncestors: string[]): Directives {
  // Tiles, thumbnails and the .dzi come from the CDN when PUBLIC_BASE_URL points there.
  const cdn = config.publicBaseUrl ? [new URL(config.publicBaseUrl).origin] : [];
  return {
    'default-src': ["'self'"],
    // Module and library files only: page data is a JSON block, never an inline script or handler.
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    // Leaflet positions every tile and control through style attributes.
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:', 'blob:', ...cdn],
    'connect-src': ["'self'", ...cdn],
    'frame-src': ["'self'"],
    'object-src': ["'none'"],
    'base-uri': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': frameAncestors,
    // `hugemap dev` serves plain http on loopback: upgrading its requests would break it.
    'upgrade-insecure-requests': null,
  };
}

const serialize = (d: Directives) =>
  Object.entries(d)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${v!.join(' ')}`)
    .join('; ');

export function securityHeaders(config: Pick<Config, 'publicBaseUrl'>): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: directives(config, ["'none'"]) },
    // Other sites' IIIF viewers and pages load our tiles and scaled images in <img>.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    // `same-origin`, not `no-referrer`: a same-origin fetch must still send its Origin (the CSRF check reads it),
    // and unlisted image addresses must not leak to other sites.
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
  });
}

/** For the embeddable views (/v/{id}?embedded=1, /embed/{id}): any site may frame them. */
export function allowAnyFrameAncestor(res: Response, config: Pick<Config, 'publicBaseUrl'>): void {
  res.setHeader('Content-Security-Policy', serialize(directives(config, ['*'])));
  res.removeHeader('X-Frame-Options');
}
