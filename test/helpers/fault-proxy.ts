/**
 * A loopback HTTP proxy in front of the S3 server that fails chosen requests
 * (500, 503 or a TCP reset), so tests can prove retries and idempotent
 * uploads against the real server instead of a mock.
 *
 * Point the S3 client's endpoint at `url`. Headers go through unchanged,
 * Host included: SigV4 signs the Host the client sent, and the server checks
 * the signature against the Host it receives. Bodies are streamed both ways,
 * never buffered, so multi-GB uploads cost no memory here.
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';

export type Fault = 'error500' | 'error503' | 'reset';

export interface ProxiedRequest {
  method: string;
  /** Path without the query string, as the client sent it (`/bucket/key`). */
  path: string;
  /** Query string without `?`, '' when none (`partNumber=1&uploadId=...`). */
  query: string;
  /** 1 for the first request with this method and path+query, 2 for its first retry, ... */
  n: number;
  /** 1-based position among all requests this proxy has seen. */
  seq: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  /** HTTP status the client got; 0 when the proxy reset the connection or the client was gone. */
  status: number;
  /** HTTP status the server answered; 0 when the request never reached it or it never answered. */
  serverStatus: number;
  fault: Fault | null;
}

export interface FaultProxyOptions {
  /** Origin of the real server, e.g. `http://127.0.0.1:9000`. */
  target: string;
  shouldFail?: (req: ProxiedRequest) => Fault | null;
  /** Holds every forwarded request this long first: a slow link, so a test can act mid-transfer. */
  delayMs?: number;
  /** Requests for which this returns true wait, unanswered, until `release()`: a link that hangs mid-transfer. */
  hold?: (req: ProxiedRequest) => boolean;
  /** Called once a forwarded request's whole body has been passed on to the server (from then on it goes on without its client). */
  onForwarded?: (req: ProxiedRequest) => void;
}

export interface FaultProxy {
  /** Origin to use as the S3 endpoint, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Completed requests, in completion order. */
  stats: { requests: RequestRecord[] };
  /**
   * PUTs the server answered with a 2xx (so it stored them), counted per path
   * (the query is ignored, so each UploadPart counts toward its object's key),
   * whether or not the client lived to read the answer. Only paths starting
   * with `pathPrefix` when given.
   */
  countSuccessfulPuts(pathPrefix?: string): Map<string, number>;
  /** Forwards every held request and stops holding. */
  release(): void;
  close(): Promise<void>;
}

// Hop-by-hop headers describe one connection, not the request; all others,
// Host and Expect included, must reach the server byte for byte.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade']);

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') throw new Error(`fault proxy only speaks http, not ${target.protocol}`);
  const agent = new Agent({ keepAlive: true });
  const requests: RequestRecord[] = [];
  const attempts = new Map<string, number>();
  let seq = 0;
  let released = false;
  const held: Array<() => void> = [];

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = q === -1 ? '' : rawUrl.slice(q + 1);
    const attemptKey = `${method} ${rawUrl}`;
    const n = (attempts.get(attemptKey) ?? 0) + 1;
    attempts.set(attemptKey, n);
    seq += 1;

    const fault = options.shouldFail?.({ method, path, query, n, seq }) ?? null;
    const record = (status: number, serverStatus = 0) => requests.push({ method, path, query, status, serverStatus, fault });

    if (fault === 'reset') {
      record(0);
      req.socket.resetAndDestroy();
      return;
    }
    if (fault) {
      const status = fault === 'error500' ? 500 : 503;
      // Read the body away first so the client sees a clean error response
      // rather than a broken pipe mid-upload.
      req.resume();
      req.on('end', () => {
        sendS3Error(res, status, seq);
        record(status);
      });
      return;
    }
    const seen: ProxiedRequest = { method, path, query, n, seq };
    const go = () => forward(req, res, { target, agent, method, record, forwarded: () => options.onForwarded?.(seen) });
    if (!released && options.hold?.(seen)) {
      // A link that hangs mid-transfer: if the client gives up (or dies) meanwhile, the server never
      // gets the request. It is recorded as its client leaves, so a test can wait for that.
      held.push(go);
      res.on('close', () => {
        const i = held.indexOf(go);
        if (i < 0) return; // released meanwhile: forward() records it
        held.splice(i, 1);
        record(0);
      });
    }
    else if (options.delayMs) setTimeout(go, options.delayMs);
    else go();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    stats: { requests },
    countSuccessfulPuts(pathPrefix = '') {
      const counts = new Map<string, number>();
      for (const r of requests) {
        if (r.method === 'PUT' && r.serverStatus >= 200 && r.serverStatus < 300 && r.path.startsWith(pathPrefix)) {
          counts.set(r.path, (counts.get(r.path) ?? 0) + 1);
        }
      }
      return counts;
    },
    release() {
      released = true;
      for (const go of held.splice(0)) go();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
    },
  };
}

interface ForwardContext {
  target: URL;
  agent: Agent;
  method: string;
  record: (status: number, serverStatus: number) => void;
  forwarded: () => void;
}

function forward(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext): void {
  if (res.destroyed || req.destroyed) {
    // The client died while its request waited (held or delayed): a link that hangs never delivers
    // it, and Node has dropped whatever body it had buffered anyway.
    ctx.record(0, 0);
    return;
  }
  const upstream = request({
    host: ctx.target.hostname,
    port: ctx.target.port,
    method: ctx.method,
    path: req.url,
    headers: withoutHopByHop(req.headers),
    agent: ctx.agent,
  });
  upstream.on('response', (upRes) => {
    const serverStatus = upRes.statusCode ?? 502;
    if (res.destroyed) {
      upRes.resume(); // the client is gone; the server's answer still says whether it stored the object
      upRes.on('end', () => ctx.record(0, serverStatus));
      return;
    }
    res.writeHead(serverStatus, upRes.statusMessage, withoutHopByHop(upRes.headers));
    pipeline(upRes, res, (err) => ctx.record(err ? 0 : serverStatus, serverStatus));
  });
  // Server unreachable or connection dropped: tell the client if it still listens.
  upstream.on('error', (err) => {
    req.unpipe(upstream);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream failed: ${err.message}\n`);
    ctx.record(502, 0);
  });
  // Client went away mid-body: do not leave the upstream request hanging. Once its whole body is
  // here the request goes on, as it would on a real link: the server may store an object whose
  // client never hears back, and a test counting uploads must see that (worker-resume.test).
  res.on('close', () => {
    if (!res.writableFinished && !req.complete) upstream.destroy();
  });
  req.on('end', ctx.forwarded);
  req.pipe(upstream);
}

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

function sendS3Error(res: ServerResponse, status: number, seq: number): void {
  // The S3 error document, so the SDK classifies it as the server would.
  const code = status === 500 ? 'InternalError' : 'ServiceUnavailable';
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>injected by fault proxy</Message><RequestId>fault-${seq}</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
