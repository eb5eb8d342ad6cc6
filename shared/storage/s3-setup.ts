/**
 * `hugemap s3 setup` (and S3_SETUP=true when the API starts): makes a bucket
 * ready for production, idempotently:
 *  - the bucket, created if missing;
 *  - a bucket policy that lets anyone GET objects under `images/` that carry the
 *    object tag `visibility=public` or `visibility=unlisted`, so a CDN or the
 *    viewer can fetch tiles and thumbnails straight from S3. Nothing else is
 *    anonymously readable: not `originals/`, not `uploads/`, not the tiles of
 *    private images (tagged `visibility=private`) nor untagged objects;
 *  - a lifecycle rule that expires abandoned `uploads/` objects (an upload cut
 *    off before it was moved to `originals/`) after UPLOADS_EXPIRE_DAYS, and
 *    aborts multipart uploads left incomplete as long;
 *  - CORS: GET/HEAD from the viewer's origin (the web app: APP_BASE_URL, else
 *    PUBLIC_BASE_URL), or any origin when neither is set (tiles of public images
 *    are public anyway). MinIO has no
 *    bucket CORS (it answers 501): it allows the origins in its own
 *    MINIO_API_CORS_ALLOW_ORIGIN (all by default), and the report says so.
 * The worker tags what it stores under `images/{id}/` with the image's visibility
 * (`imageObjectTags`).
 */
import {
  PutObjectTaggingCommand,
  PutBucketCorsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Config } from '../config.js';
import { errorName, storageError } from './s3-errors.js';
import type { S3Store } from './s3-store.js';
import { runPool } from './run-pool.js';
import { imageKeys } from '../image-status.js';

/** The object tag the bucket policy reads; values public, unlisted, private. */
export const VISIBILITY_TAG = 'visibility';
/** Tag values whose objects anyone may read (by id: unlisted images are not listed, but their tiles are public). */
export const ANONYMOUSLY_READABLE = ['public', 'unlisted'] as const;

/** The `x-amz-tagging` value of an object under `images/{id}/`: its image's visibility (absent means public). */
export function imageObjectTags(visibility: 'public' | 'unlisted' | 'private' | undefined): string {
  return `${VISIBILITY_TAG}=${visibility ?? 'public'}`;
}

/** Tagging requests in flight while an image's objects are re-tagged. */
const RETAG_CONCURRENCY = 32;

/**
 * Re-tags every object under `images/{id}/` after the image's visibility changed, so that the bucket
 * policy follows it. One PutObjectTagging per object (tiles included): done when the owner changes
 * the visibility, which is rare; a failure leaves some objects with the old tag and is thrown, so
 * the change can be made again.
 */
export async function retagImageObjects(s3: S3Store, id: string, visibility: 'public' | 'unlisted' | 'private'): Promise<number> {
  const keys: string[] = [];
  for await (const { key } of s3.listKeys(imageKeys.prefix(id))) keys.push(key);
  const TagSet = [{ Key: VISIBILITY_TAG, Value: visibility }];
  await runPool(keys, RETAG_CONCURRENCY, async (Key) => {
    try {
      await s3.client.send(new PutObjectTaggingCommand({ Bucket: s3.bucket, Key, Tagging: { TagSet } }));
    } catch (err) {
      throw storageError('PutObjectTagging', Key, err);
    }
  });
  return keys.length;
}

export function bucketPolicy(bucket: string): object {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'AnonymousReadOfPublicImageTiles',
        Effect: 'Allow',
        Principal: { AWS: ['*'] },
        Action: ['s3:GetObject'],
        Resource: [`arn:aws:s3:::${bucket}/images/*`],
        Condition: { StringEquals: { [`s3:ExistingObjectTag/${VISIBILITY_TAG}`]: [...ANONYMOUSLY_READABLE] } },
      },
    ],
  };
}

export interface S3SetupReport {
  bucket: string;
  policy: 'applied';
  lifecycle: { uploadsExpireDays: number };
  /** `applied: false` where the server has no bucket CORS (MinIO: set MINIO_API_CORS_ALLOW_ORIGIN on the server instead). */
  cors: { origins: string[]; applied: boolean };
}

export async function setupBucket(s3: S3Store, config: Pick<Config, 'uploadsExpireDays' | 'publicBaseUrl' | 'appBaseUrl'>): Promise<S3SetupReport> {
  await s3.ensureBucket();
  const client: S3Client = s3.client;
  const Bucket = s3.bucket;
  const viewer = config.appBaseUrl ?? config.publicBaseUrl;
  const origins = viewer ? [new URL(viewer).origin] : ['*'];
  const step = async (what: string, op: () => Promise<unknown>) => {
    try {
      await op();
    } catch (err) {
      throw storageError(what, Bucket, err);
    }
  };
  await step('PutBucketPolicy', () => client.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify(bucketPolicy(Bucket)) })));
  await step('PutBucketLifecycleConfiguration', () =>
    client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'expire-abandoned-uploads',
              Status: 'Enabled',
              Filter: { Prefix: 'uploads/' },
              Expiration: { Days: config.uploadsExpireDays },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: config.uploadsExpireDays },
            },
          ],
        },
      }),
    ),
  );
  let corsApplied = true;
  await step('PutBucketCors', () =>
    client.send(
      new PutBucketCorsCommand({
        Bucket,
        CORSConfiguration: {
          CORSRules: [{ ID: 'viewer', AllowedOrigins: origins, AllowedMethods: ['GET', 'HEAD'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3600 }],
        },
      }),
    ).catch((err: unknown) => {
      // MinIO keeps CORS server-wide (MINIO_API_CORS_ALLOW_ORIGIN, every origin by default) and answers 501.
      if (errorName(err) !== 'NotImplemented') throw err;
      corsApplied = false;
    }),
  );
  return { bucket: Bucket, policy: 'applied', lifecycle: { uploadsExpireDays: config.uploadsExpireDays }, cors: { origins, applied: corsApplied } };
}
