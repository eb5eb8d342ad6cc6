/**
 * Where a bucket's objects live, worked out by the SDK's own endpoint rules
 * from the client's resolved config, so the lean PUT (lean-put.ts) addresses
 * the same URL as the SDK: virtual-hosted on AWS, path-style where asked for
 * or where the bucket name needs it, custom endpoints (MinIO, R2) as given.
 */
import type { S3Client } from '@aws-sdk/client-s3';

export interface BucketTarget {
  /** The bucket's base URL: `https://b.s3.eu-west-1.amazonaws.com/` or `http://127.0.0.1:9000/b`. */
  url: URL;
  signingName: string;
  signingRegion: string;
}

interface AuthScheme {
  name?: string;
  signingName?: string;
  signingRegion?: string;
}

/** Config values are plain or providers; this reads either. */
async function read(value: unknown): Promise<unknown> {
  return typeof value === 'function' ? await (value as () => unknown)() : value;
}

/** Same as the SDK (resolveParamsForS3): names that cannot be a DNS label, or dotted names over TLS, go path-style. */
function needsPathStyle(bucket: string, endpoint: string | undefined): boolean {
  if (bucket.startsWith('arn:')) return false;
  const dnsCompatible = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) && !/(\d+\.){3}\d+/.test(bucket) && !bucket.includes('..');
  return !dnsCompatible || (bucket.includes('.') && !String(endpoint).startsWith('http:'));
}

/** The custom endpoint as the SDK passes it to its rules, or undefined for AWS's own. */
async function customEndpoint(client: S3Client): Promise<string | undefined> {
  const config = client.config;
  if (!config.isCustomEndpoint) {
    // AWS_ENDPOINT_URL_S3 or the shared config file, read by the SDK, not by us.
    return config.ignoreConfiguredEndpointUrls ? undefined : await config.serviceConfiguredEndpoint?.();
  }
  const ep = await config.endpoint?.();
  if (ep === undefined) return undefined;
  return `${ep.protocol}//${ep.hostname}${ep.port ? `:${ep.port}` : ''}${ep.path}`;
}

/**
 * The bucket's base URL and signing scope, or null when the bucket needs an
 * auth scheme other than plain SigV4 (S3 Express directory buckets, multi-region
 * access points): those are left to the SDK.
 */
export async function resolveBucketTarget(client: S3Client, bucket: string): Promise<BucketTarget | null> {
  const config = client.config;
  const region = await config.region();
  const endpoint = await customEndpoint(client);
  const forcePathStyle = (await read(config.forcePathStyle)) === true || needsPathStyle(bucket, endpoint);
  const resolved = config.endpointProvider({
    Bucket: bucket,
    Region: region,
    Endpoint: endpoint,
    ForcePathStyle: forcePathStyle,
    UseFIPS: await config.useFipsEndpoint(),
    UseDualStack: await config.useDualstackEndpoint(),
    Accelerate: (await read(config.useAccelerateEndpoint)) === true,
    UseGlobalEndpoint: (await read(config.useGlobalEndpoint)) === true,
    UseArnRegion: (await read(config.useArnRegion)) === true,
    DisableMultiRegionAccessPoints: (await read(config.disableMultiregionAccessPoints)) === true,
  });
  const scheme = (resolved.properties?.authSchemes as AuthScheme[] | undefined)?.[0];
  if (scheme !== undefined && scheme.name !== 'sigv4') return null;
  return { url: resolved.url, signingName: scheme?.signingName ?? 's3', signingRegion: scheme?.signingRegion ?? region };
}

/**
 * S3's escaping of a key in the path (the SDK's `{Key+}` label): each segment
 * keeps only A-Za-z0-9 - . _ ~, everything else is %-escaped UTF-8; '/' stays.
 * The result is signed as is (SigV4 with uriEscapePath off), never escaped twice.
 */
export function escapeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/** Path of `key` under the bucket's base URL, e.g. `/b/tiles/0/0_0.jpeg` (path-style) or `/tiles/0/0_0.jpeg`. */
export function objectPath(target: BucketTarget, key: string): string {
  return `${target.url.pathname.replace(/\/$/, '')}/${escapeKey(key)}`;
}
