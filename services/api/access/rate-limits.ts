/**
 * Rate limits kept in Redis (rate-limiter-flexible), so they hold across API
 * replicas; while Redis is unreachable an in-memory limiter of the same size
 * stands in for it in each replica (its `insuranceLimiter`), so a Redis outage
 * neither opens the door to password guessing nor blocks everyone.
 *
 * - sign-in: failed attempts per user name and per client address (a success
 *   forgives the name's failures);
 * - writes: POST/PATCH/PUT/DELETE per principal;
 * - renders: scaled sizes and IIIF answers that are not in the cache, per client.
 * Every limited answer carries RateLimit-Limit/-Remaining/-Reset; a refusal is
 * 429 HUGEMAP_ERR_RATE_LIMITED with Retry-After (error-handler.ts).
 */
import type { Request, RequestHandler, Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../../../shared/errors.js';
import type { ApiDeps } from '../deps.js';

interface Limiter {
  limiter: RateLimiterRedis;
  points: number;
  what: string;
}

export interface RateLimits {
  /** Counts a sign-in attempt for this name and address, before the password is checked (no race between parallel guesses); throws 429 past either limit. */
  signInAllowed(req: Request, res: Response, name: string): Promise<void>;
  /** A correct password forgives the name's failed attempts, and gives back the address's point for this attempt. */
  signInSucceeded(req: Request, name: string): Promise<void>;
  /** Middleware for routers that write: one point per unsafe request of a principal. */
  writes: RequestHandler;
  /** Before rendering something not in the cache. */
  render(req: Request, res: Response): Promise<void>;
}

const made = new WeakMap<object, RateLimits>();
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function rateLimitsFor(deps: Pick<ApiDeps, 'config' | 'events'>): RateLimits {
  let limits = made.get(deps);
  if (!limits) {
    limits = createRateLimits(deps);
    made.set(deps, limits);
  }
  return limits;
}

function createRateLimits(deps: Pick<ApiDeps, 'config' | 'events'>): RateLimits {
  const { rateLimits: cfg, queuePrefix } = deps.config;
  // AUTH_MODE=open is one person on loopback (hugemap dev): nobody to share with, so no write or render limits.
  const open = deps.config.authMode === 'open';
  // The status publisher's command connection: closed with it, no extra socket per replica.
  const storeClient = deps.events.commands;
  const make = (name: string, what: string, points: number, duration: number): Limiter => ({
    limiter: new RateLimiterRedis({
      storeClient,
      keyPrefix: `${queuePrefix}:rl:${name}`,
      points,
      duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: `${name}-memory`, points, duration }),
    }),
    points,
    what,
  });
  const signinName = make('signin-name', 'sign-in attempts for this user', cfg.signinPerName, cfg.signinWindowS);
  const signinAddress = make('signin-address', 'sign-in attempts from this address', cfg.signinPerAddress, cfg.signinWindowS);
  const writes = make('writes', 'writes', cfg.writesPerMinute, 60);
  const renders = make('renders', 'renders', cfg.rendersPerMinute, 60);

  return {
    async signInAllowed(req, res, name) {
      await consume(signinAddress, clientKey(req), res);
      await consume(signinName, name, res);
    },
    async signInSucceeded(req, name) {
      await Promise.allSettled([signinName.limiter.delete(name), signinAddress.limiter.reward(clientKey(req), 1)]);
    },
    writes: (req, res, next) => {
      if (!UNSAFE.has(req.method) || open) return next();
      consume(writes, principalKey(req), res).then(() => next(), next);
    },
    async render(req, res) {
      if (open) return;
      await consume(renders, principalKey(req), res);
    },
  };
}

/** One point; sets the RateLimit headers either way; throws RateLimitedError when none is left. */
async function consume(l: Limiter, key: string, res: Response): Promise<void> {
  try {
    const r = await l.limiter.consume(key);
    setHeaders(res, l.points, r);
  } catch (rejection) {
    if (!(rejection instanceof RateLimiterRes)) throw rejection;
    setHeaders(res, l.points, rejection);
    throw new RateLimitedError(l.what, Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)));
  }
}

function setHeaders(res: Response, limit: number, r: RateLimiterRes): void {
  if (res.headersSent) return;
  res.set({
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(Math.max(0, r.remainingPoints)),
    'RateLimit-Reset': String(Math.max(0, Math.ceil(r.msBeforeNext / 1000))),
  });
}

/** The client's address as express sees it (X-Forwarded-For only with TRUST_PROXY). */
function clientKey(req: Request): string {
  return `ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`;
}

/** A principal counts as itself wherever it connects from; anonymous callers by address. */
function principalKey(req: Request): string {
  return req.principal.kind === 'user' ? `user:${req.principal.name}` : clientKey(req);
}
