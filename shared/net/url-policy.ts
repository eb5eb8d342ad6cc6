/**
 * Which URLs we may fetch on a user's behalf, and the DNS lookup that enforces
 * the address rule at connect time.
 *
 * Two layers, because a check before connecting is not enough on its own:
 * - `checkUrlShape` (no I/O): scheme, credentials, port, IP-literal hosts.
 *   Node never calls `lookup` for an IP literal, so literals are judged here.
 * - `guardedLookup`: handed to http.request as its `lookup`, so the addresses
 *   judged are exactly the ones the socket then dials. A hostname that resolves
 *   to a public address for a pre-check and to 127.0.0.1 a moment later (DNS
 *   rebinding) is still refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { HugemapError, UrlFetchError, UrlForbiddenError } from '../errors.js';
import { isForbiddenAddress } from './address-policy.js';

export interface UrlPolicy {
  /** `host:port` entries (lower case, IPv6 in brackets) exempt from the address and port rules. */
  allowHosts?: readonly string[];
  /** DNS lookup to use instead of the system resolver; tests inject one to fake answers. */
  lookup?: LookupFunction;
}

/**
 * The Fetch standard's "bad ports": protocols a crafted HTTP request can talk
 * to (SMTP, IRC, LDAP...). Browsers refuse them for the same reason we do.
 * https://fetch.spec.whatwg.org/#port-blocking
 */
const BAD_PORTS = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Parses `raw` and applies every rule that needs no DNS. Throws UrlForbiddenError. */
export function checkUrlShape(raw: string | URL, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlForbiddenError(String(raw).slice(0, 200), 'not a valid absolute URL');
  }
  const shown = redact(url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UrlForbiddenError(shown, `scheme ${url.protocol} is not allowed (only http and https)`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UrlForbiddenError(shown, 'credentials in the URL are not allowed');
  }
  if (isAllowListed(url, policy)) return url;
  const port = effectivePort(url);
  if (BAD_PORTS.has(port)) throw new UrlForbiddenError(shown, `port ${port} is not allowed`);
  const literal = hostLiteral(url);
  if (literal !== null) {
    const reason = isForbiddenAddress(literal);
    if (reason !== null) throw new UrlForbiddenError(shown, `address ${literal} is ${reason}`);
  }
  return url;
}

/**
 * Judges a redirect's Location like a fresh URL, resolved against the hop that
 * sent it. https -> http is refused: the user named a TLS-authenticated source,
 * and a downgrade would let anyone on the path swap the content.
 */
export function checkRedirect(from: URL, location: string, policy: UrlPolicy): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new UrlFetchError(redact(from), 'redirect has an invalid Location header');
  }
  const next = checkUrlShape(target, policy);
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new UrlForbiddenError(redact(next), `redirect from ${redact(from)} downgrades https to http`);
  }
  return next;
}

/**
 * A `lookup` for http.request that resolves every address of the host and
 * fails the connection if any of them is forbidden. Refusing on ANY (not just
 * the first) matters: with autoSelectFamily the socket may try them all.
 */
export function guardedLookup(url: URL, policy: UrlPolicy): LookupFunction {
  const resolve = policy.lookup ?? (dnsLookup as LookupFunction);
  const exempt = isAllowListed(url, policy);
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, answer) => {
      if (err) return callback(err, '');
      const addresses = normaliseAnswer(answer);
      if (addresses.length === 0) return callback(new UrlFetchError(redact(url), `${hostname} has no addresses`), '');
      if (!exempt) {
        const refusal = firstForbidden(url, hostname, addresses);
        if (refusal) return callback(refusal as unknown as NodeJS.ErrnoException, '');
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}

/** Resolves the host (unless a literal) and checks every address, for a pre-check with a clean 400. */
export async function resolveAndCheck(url: URL, policy: UrlPolicy): Promise<void> {
  if (hostLiteral(url) !== null || isAllowListed(url, policy)) return;
  const lookup = guardedLookup(url, policy);
  await new Promise<void>((resolve, reject) => {
    lookup(url.hostname, { all: true }, (err) => (err ? reject(asFetchError(url, err)) : resolve()));
  });
}

/** Turns a connection or DNS failure into our error, keeping a HugemapError (a refusal) as it is. */
export function asFetchError(url: URL, err: unknown): HugemapError {
  if (err instanceof HugemapError) return err;
  const e = err as NodeJS.ErrnoException;
  const shown = redact(url);
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN' || e?.code === 'ENODATA') {
    // EAI_AGAIN is the resolver being unavailable, not the name being wrong.
    return new UrlFetchError(shown, `cannot resolve host ${url.hostname} (${e.code})`, err, { transient: e.code === 'EAI_AGAIN' });
  }
  // Refused, reset, unreachable: the far side may be back on the next attempt.
  return new UrlFetchError(shown, e?.code ? `${e.code} ${e.message}` : String(e?.message ?? err), err, { transient: true });
}

/** The URL as safe to show in messages and logs: no user info, no query (may hold signed tokens). */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function isAllowListed(url: URL, policy: UrlPolicy): boolean {
  if (!policy.allowHosts || policy.allowHosts.length === 0) return false;
  const key = `${url.hostname}:${effectivePort(url)}`.toLowerCase();
  return policy.allowHosts.some((entry) => entry.toLowerCase() === key);
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** The host as a bare IP literal, or null for a name. WHATWG parsing already turned 0x7f.1 into 127.0.0.1. */
function hostLiteral(url: URL): string | null {
  const bare = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(bare) === 0 ? null : bare;
}

function normaliseAnswer(answer: string | LookupAddress[]): LookupAddress[] {
  if (Array.isArray(answer)) return answer;
  return answer ? [{ address: answer, family: isIP(answer) }] : [];
}

function firstForbidden(url: URL, hostname: string, addresses: LookupAddress[]): UrlForbiddenError | null {
  for (const { address } of addresses) {
    const reason = isForbiddenAddress(address);
    // Which rule refused it, not the address: the answer would map our internal network for whoever asks.
    if (reason !== null) return new UrlForbiddenError(redact(url), `${hostname} resolves to a ${reason} address`);
  }
  return null;
}
