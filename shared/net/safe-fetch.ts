/**
 * Fetches a user-supplied URL without letting it reach our own network (SSRF).
 *
 * Built on node:http(s) rather than fetch/undici because `request` accepts a
 * `lookup`, which lets us judge the very addresses the socket dials (see
 * url-policy.ts). Policy decisions, so callers need not look inside:
 * - Redirects are followed by hand, at most `maxRedirects`, and every hop is
 *   judged again (scheme, port, literal address, resolved address).
 * - https -> http redirects are refused: the user named a TLS-authenticated
 *   source, and a downgrade would let anyone on the path swap the content.
 * - No credentials ever leave: URLs with user info are refused and we set no
 *   Authorization or Cookie header, so nothing can follow a redirect elsewhere.
 * - Proxy variables (HTTP_PROXY...) are never consulted: node:http ignores
 *   them, and `agent: false` gives each request its own unshared connection.
 * - Bodies are asked for uncompressed (`Accept-Encoding: identity`) so byte
 *   counts, the size cap and Range offsets all refer to the stored file.
 */
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { UploadTooLargeError, UrlFetchError } from '../errors.js';
import { guardBody } from './body-guard.js';
import {
  asFetchError,
  checkRedirect,
  checkUrlShape,
  guardedLookup,
  redact,
  resolveAndCheck,
  type UrlPolicy,
} from './url-policy.js';

export interface SafeFetchOptions extends UrlPolicy {
  /** The whole resource (resumed offset included) may not exceed this; larger fails with UploadTooLargeError. */
  maxBytes: number;
  /** Overall deadline for headers and body together. */
  timeoutMs: number;
  /** Longest wait for the next bytes (headers or body). @defaultValue min(timeoutMs, 30 s) */
  idleTimeoutMs?: number;
  /** @defaultValue 5 */
  maxRedirects?: number;
  /** Resume: ask for `bytes=N-`; `resumed` in the answer says whether the server honoured it. */
  rangeStart?: number;
  /** Validator (`validator` of an earlier answer) so a changed resource comes back whole instead of spliced. */
  ifRange?: string;
  userAgent?: string;
}

export interface SafeResponse {
  stream: Readable;
  status: number;
  finalUrl: string;
  /** Bytes this response will carry (after the Range offset when resumed), when the server said. */
  contentLength: number | null;
  contentType: string | null;
  /** True when a Range request got 206: the stream starts at `rangeStart`. */
  resumed: boolean;
  /** Strong ETag, else Last-Modified: pass back as `ifRange` when resuming. */
  validator: string | null;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_USER_AGENT = 'hugemap-fetch/0.1';

/** The pre-check the API runs to answer 400 at once. The fetch itself checks again at connect time. */
export async function assertUrlAllowed(url: string, opts: Pick<SafeFetchOptions, 'allowHosts' | 'lookup'>): Promise<URL> {
  const parsed = checkUrlShape(url, opts);
  await resolveAndCheck(parsed, opts);
  return parsed;
}

export async function safeFetch(url: string, opts: SafeFetchOptions): Promise<SafeResponse> {
  const controller = new AbortController();
  let current = checkUrlShape(url, opts);
  const deadline = setTimeout(
    () => controller.abort(new UrlFetchError(redact(current), `timed out after ${opts.timeoutMs} ms`, undefined, { transient: true })),
    opts.timeoutMs,
  );
  deadline.unref();
  try {
    let rangeStart = opts.rangeStart !== undefined && opts.rangeStart > 0 ? opts.rangeStart : undefined;
    for (let redirects = 0; ; ) {
      const res = await requestOnce(current, rangeStart, opts, controller);
      const status = res.statusCode ?? 0;
      if (REDIRECT_STATUSES.has(status) && res.headers.location !== undefined) {
        res.destroy();
        redirects += 1;
        const maxRedirects = opts.maxRedirects ?? 5;
        if (redirects > maxRedirects) throw new UrlFetchError(redact(current), `too many redirects (more than ${maxRedirects})`);
        current = checkRedirect(current, res.headers.location, opts);
        continue;
      }
      if (status === 416 && rangeStart !== undefined) {
        // Our partial file is already whole (or the resource shrank): start over without Range.
        res.destroy();
        rangeStart = undefined;
        continue;
      }
      return describeResponse(res, current, rangeStart, opts, controller, () => clearTimeout(deadline));
    }
  } catch (err) {
    clearTimeout(deadline);
    controller.abort(err);
    throw err;
  }
}

function requestOnce(url: URL, rangeStart: number | undefined, opts: SafeFetchOptions, controller: AbortController): Promise<IncomingMessage> {
  const headers: OutgoingHttpHeaders = {
    'user-agent': opts.userAgent ?? DEFAULT_USER_AGENT,
    accept: '*/*',
    'accept-encoding': 'identity',
  };
  if (rangeStart !== undefined) {
    headers.range = `bytes=${rangeStart}-`;
    if (opts.ifRange) headers['if-range'] = opts.ifRange;
  }
  const idleMs = idleTimeoutOf(opts);
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, { method: 'GET', headers, agent: false, lookup: guardedLookup(url, opts), signal: controller.signal });
    // Until headers arrive, the idle limit bounds connect + TLS + server think time.
    const headersTimer = setTimeout(() => controller.abort(idleError(url, idleMs)), idleMs);
    req.once('response', (res) => {
      clearTimeout(headersTimer);
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(headersTimer);
      reject(controller.signal.aborted ? controller.signal.reason : asFetchError(url, err));
    });
    req.end();
  });
}

function describeResponse(
  res: IncomingMessage,
  url: URL,
  rangeStart: number | undefined,
  opts: SafeFetchOptions,
  controller: AbortController,
  onClose: () => void,
): SafeResponse {
  const status = res.statusCode ?? 0;
  const fail = (err: Error): never => {
    res.destroy();
    throw err;
  };
  if (status < 200 || status > 299) fail(new UrlFetchError(redact(url), `server answered HTTP ${status}`, undefined, { transient: status >= 500 || status === 408 || status === 429 }));
  const resumed = status === 206;
  if (resumed && rangeStart === undefined) fail(new UrlFetchError(redact(url), 'server sent a partial (206) answer we did not ask for'));
  if (resumed && contentRangeStart(res) !== rangeStart) {
    fail(new UrlFetchError(redact(url), `server resumed at the wrong offset (Content-Range: ${res.headers['content-range'] ?? 'missing'})`));
  }
  const offset = resumed ? rangeStart! : 0;
  const contentLength = parseLength(res.headers['content-length']);
  if (contentLength !== null && offset + contentLength > opts.maxBytes) fail(new UploadTooLargeError(opts.maxBytes));

  const idleTimeoutMs = idleTimeoutOf(opts);
  const stream = guardBody(res, {
    url,
    maxBytes: opts.maxBytes,
    offset,
    idleTimeoutMs,
    controller,
    onClose,
    idleError: () => idleError(url, idleTimeoutMs),
  });
  const etag = res.headers.etag;
  return {
    stream,
    status,
    finalUrl: url.href,
    contentLength,
    contentType: res.headers['content-type'] ?? null,
    resumed,
    validator: etag !== undefined && !etag.startsWith('W/') ? etag : (res.headers['last-modified'] ?? null),
  };
}

function idleTimeoutOf(opts: SafeFetchOptions): number {
  return opts.idleTimeoutMs ?? Math.min(opts.timeoutMs, 30_000);
}

function idleError(url: URL, ms: number): UrlFetchError {
  return new UrlFetchError(redact(url), `timed out: no data for ${ms} ms`, undefined, { transient: true });
}

function parseLength(header: string | undefined): number | null {
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
}

function contentRangeStart(res: IncomingMessage): number | null {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  return match ? Number(match[1]) : null;
}
