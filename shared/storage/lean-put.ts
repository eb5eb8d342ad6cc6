/**
 * PutObject without the SDK's middleware stack, for the thousands of small
 * tiles a worker uploads per image: through @aws-sdk/client-s3 a PUT costs
 * 2-4 ms of CPU (middleware, endpoint rules, serde), about as much as cutting
 * the tile; signed here with the SDK's own SigV4 signer and sent with node:http
 * over a keep-alive agent it costs well under 1 ms.
 *
 * Everything the SDK would decide is still taken from the SDK client: the
 * credentials provider (cached and refreshed by the SDK, session tokens
 * included), the region, the endpoint rules (s3-endpoint.ts) and the clock
 * offset it learns from skewed responses. One call is one attempt; S3Store
 * wraps it in `withRetries` and maps failures to StorageError.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { objectPath, resolveBucketTarget, type BucketTarget } from './s3-endpoint.js';

/** Largest body `putSmallObject` takes; whole buffers are held and resent on retry. */
export const LEAN_PUT_MAX_BYTES = 5 * 1024 * 1024;
/** The SDK's threshold: a server clock this far off ours means our signatures will be refused. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Pooled sockets idle this long are closed: under the tens of seconds after which S3 and MinIO close them. */
const IDLE_SOCKET_MS = 15_000;

/** SHA-256 (HMAC-SHA-256 given a secret) from node:crypto, as SignatureV4 wants it. */
class NodeSha256 {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    const s = this.secret;
    if (s === undefined) return createHash('sha256');
    if (typeof s === 'string') return createHmac('sha256', s);
    return createHmac('sha256', ArrayBuffer.isView(s) ? new Uint8Array(s.buffer, s.byteOffset, s.byteLength) : new Uint8Array(s));
  }
}

/**
 * A non-2xx answer, shaped like the SDK's service errors (`name` is the S3 code,
 * `$metadata.httpStatusCode` the status) so retry.ts and s3-errors.ts read it the same way.
 */
export class S3ResponseError extends Error {
  readonly $metadata: { httpStatusCode: number; requestId?: string; clockSkewCorrected?: boolean };

  constructor(status: number, code: string, message: string, requestId?: string) {
    super(`${message} (HTTP ${status})`);
    this.name = code;
    this.$metadata = { httpStatusCode: status, ...(requestId ? { requestId } : {}) };
  }
}

function xmlField(xml: string, tag: string): string | undefined {
  const raw = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
  if (raw === undefined) return undefined;
  const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return raw.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => entities[e] ?? '').replace(/\s+/g, ' ').trim();
}

function responseError(status: number, headers: IncomingHttpHeaders, body: string): S3ResponseError {
  const code = xmlField(body, 'Code') ?? (status === 503 ? 'ServiceUnavailable' : `Http${status}`);
  const message = xmlField(body, 'Message') ?? (body.replace(/\s+/g, ' ').trim().slice(0, 200) || 'no error body');
  const requestId = xmlField(body, 'RequestId') ?? (headers['x-amz-request-id'] as string | undefined);
  return new S3ResponseError(status, code, message, requestId);
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class LeanPut {
  private target: Promise<BucketTarget | null> | undefined;
  private signer: SignatureV4 | undefined;
  private agent: HttpAgent | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly requestTimeoutMs: number,
    /** Sockets kept to the server at most; requests beyond wait, signed, for one. */
    private readonly maxSockets: number,
  ) {}

  /** Resolved once per store; null: this bucket needs the SDK (see resolveBucketTarget). */
  resolveTarget(): Promise<BucketTarget | null> {
    this.target ??= resolveBucketTarget(this.client, this.bucket).catch((err: unknown) => {
      this.target = undefined;
      throw err;
    });
    return this.target;
  }

  /**
   * One signed PUT of `body` (its hex SHA-256 in `sha256`: computed once by the
   * caller, the body does not change between attempts). Signed afresh each call:
   * the signature carries the time.
   */
  async put(target: BucketTarget, key: string, body: Buffer, sha256: string, meta: { contentType: string; cacheControl?: string; tags?: string }): Promise<{ etag: string }> {
    const config = this.client.config;
    this.signer ??= new SignatureV4({
      service: target.signingName,
      region: target.signingRegion,
      credentials: () => config.credentials(),
      sha256: NodeSha256,
      uriEscapePath: false,
    });
    const headers: Record<string, string> = {
      host: target.url.host,
      'content-type': meta.contentType,
      'content-length': String(body.length),
      'x-amz-content-sha256': sha256,
      ...(meta.cacheControl === undefined ? {} : { 'cache-control': meta.cacheControl }),
      ...(meta.tags === undefined ? {} : { 'x-amz-tagging': meta.tags }),
    };
    const unsigned = {
      method: 'PUT',
      protocol: target.url.protocol,
      hostname: target.url.hostname,
      path: objectPath(target, key),
      query: {},
      headers,
    };
    const signed = await this.signer.sign(unsigned, { signingDate: new Date(Date.now() + config.systemClockOffset) });
    const res = await this.send(target.url, unsigned.path, signed.headers, body);
    if (res.status >= 200 && res.status < 300) return { etag: String(res.headers.etag ?? '') };
    const err = responseError(res.status, res.headers, res.body);
    if (this.correctClock(res.headers.date)) {
      // As the SDK does: the next attempt is signed with the server's time, so it is worth one.
      err.$metadata.clockSkewCorrected = true;
      Object.assign(err, { $retryable: {} });
    }
    throw err;
  }

  /** Idle keep-alive sockets are closed; later calls open new ones. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private correctClock(dateHeader: string | undefined): boolean {
    const serverTime = dateHeader === undefined ? NaN : Date.parse(dateHeader);
    const config = this.client.config;
    if (Number.isNaN(serverTime) || Math.abs(serverTime - (Date.now() + config.systemClockOffset)) < CLOCK_SKEW_MS) return false;
    config.systemClockOffset = serverTime - Date.now();
    return true;
  }

  private send(url: URL, path: string, headers: Record<string, string>, body: Buffer): Promise<Response> {
    const https = url.protocol === 'https:';
    // `timeout` here only reaps idle pooled sockets (requests set their own, below), and lets the
    // agent honour a server's Keep-Alive hint: a socket is dropped before the server closes it
    // under a request, which would cost a retry.
    const agentOptions = { keepAlive: true, maxSockets: this.maxSockets, timeout: IDLE_SOCKET_MS };
    this.agent ??= https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    const timeoutMs = this.requestTimeoutMs;
    return new Promise<Response>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)({
        method: 'PUT',
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port,
        path,
        headers,
        agent: this.agent,
        // Socket idle this long, connecting included: fails the attempt, which is retried.
        timeout: timeoutMs,
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no progress for ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(Object.assign(new Error('connection closed mid-response'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(body);
    });
  }
}
