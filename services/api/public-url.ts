/**
 * The absolute origin (scheme, host and any path prefix) of the API as the
 * world reaches it, for URLs that end up in documents others store and
 * follow (IIIF info.json and manifests, annotation ids). Never the request's
 * Host header: a forged Host would otherwise be written into answers that
 * caches keep and serve to everyone.
 *
 * In order: PUBLIC_BASE_URL; the X-Forwarded-Host (and -Proto) of a proxy that
 * express's "trust proxy" setting (TRUST_PROXY) trusts; else the address this
 * server's socket is bound to, which only the server decides.
 */
import type { Request } from 'express';
import type { Config } from '../../shared/config.js';

export function publicOrigin(req: Request, config: Pick<Config, 'publicBaseUrl'>): string {
  if (config.publicBaseUrl) return config.publicBaseUrl;
  const forwarded = firstValue(req.get('x-forwarded-host'));
  const trust = req.app.get('trust proxy fn') as ((addr: string | undefined, i: number) => boolean) | undefined;
  if (forwarded && trust?.(req.socket.remoteAddress, 0) && /^[A-Za-z0-9.\-\[\]:]+$/.test(forwarded)) {
    // req.protocol honours X-Forwarded-Proto only from a trusted proxy, too.
    return `${req.protocol}://${forwarded}`;
  }
  const { localAddress, localPort } = req.socket;
  let host = (localAddress ?? 'localhost').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (host.includes(':')) host = `[${host}]`;
  return `${req.protocol}://${host}:${localPort}`;
}

function firstValue(header: string | undefined): string | undefined {
  return header?.split(',')[0]?.trim() || undefined;
}
