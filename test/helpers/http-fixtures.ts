/**
 * Loopback HTTP servers for tests that fetch: port 0, 127.0.0.1 only, and a
 * close() that also cuts connections a test left stalled on purpose. Plus a
 * fake DNS and an assertion on our error codes.
 */
import assert from 'node:assert/strict';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { HugemapError } from '../../shared/errors.js';

export interface TestServer {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The FETCH_ALLOW_HOSTS entry for this server. */
  hostPort: string;
  /** Requests seen, in order (method, url, headers). */
  requests: IncomingMessage[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Serves `body` with Content-Length, honouring `Range: bytes=N-` (206) unless
 * told not to, and `If-Range` against `etag`.
 */
export function serveBody(body: Buffer, opts: { honourRange?: boolean; etag?: string } = {}): Handler {
  return (req, res) => {
    if (opts.etag) res.setHeader('ETag', opts.etag);
    res.setHeader('Content-Type', 'application/octet-stream');
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    const rangeUsable = (opts.honourRange ?? true) && match && (ifRange === undefined || ifRange === opts.etag);
    if (rangeUsable) {
      const start = Number(match[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'Content-Length': body.length - start,
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'Content-Length': body.length });
    res.end(body);
  };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Rejects with a HugemapError carrying `code` (and a message matching `message`, if given). */
export async function rejectsWithCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${code}, but it succeeded`),
    (err: unknown) => void (caught = err),
  );
  assert.ok(caught instanceof HugemapError, `expected a HugemapError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
}

/** A DNS stand-in: each call for a name returns the next answer in its list (the last one repeats). */
export function fakeLookup(answers: Record<string, string[][]>): LookupFunction & { calls: string[] } {
  const calls: string[] = [];
  const lookup = ((hostname, options, callback) => {
    calls.push(hostname);
    const sequence = answers[hostname];
    if (!sequence) {
      return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '');
    }
    const addresses = (sequence[Math.min(calls.filter((c) => c === hostname).length, sequence.length) - 1] ?? []).map(
      (address) => ({ address, family: isIP(address) }),
    );
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  }) as LookupFunction & { calls: string[] };
  lookup.calls = calls;
  return lookup;
}
