/**
 * Server-side move of an S3 object (copy, then delete the source): an upload is
 * streamed to a temporary key because its content id is known only at the end.
 * CopyObject handles up to 5 GiB; larger objects are copied part by part with
 * UploadPartCopy, so no byte passes through the API either way.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { S3Store } from '../../shared/storage/s3-store.js';
import { storageError } from '../../shared/storage/s3-errors.js';

/** S3's limit for a single CopyObject. */
export const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;
const COPY_PART_SIZE = 512 * 1024 ** 2;

export async function moveObject(s3: S3Store, from: string, to: string, size: number, contentType: string): Promise<void> {
  if (size <= SINGLE_COPY_LIMIT) {
    try {
      await s3.client.send(
        new CopyObjectCommand({ Bucket: s3.bucket, Key: to, CopySource: copySource(s3, from), ContentType: contentType, MetadataDirective: 'REPLACE' }),
      );
    } catch (err) {
      throw storageError('CopyObject', to, err);
    }
  } else {
    await multipartCopy(s3, from, to, size, contentType);
  }
  await s3.deleteKey(from);
}

async function multipartCopy(s3: S3Store, from: string, to: string, size: number, contentType: string): Promise<void> {
  const created = await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: to, ContentType: contentType }));
  const uploadId = created.UploadId;
  try {
    const parts: Array<{ ETag: string; PartNumber: number }> = [];
    for (let start = 0, n = 1; start < size; start += COPY_PART_SIZE, n++) {
      const end = Math.min(size, start + COPY_PART_SIZE) - 1;
      const res = await s3.client.send(
        new UploadPartCopyCommand({
          Bucket: s3.bucket,
          Key: to,
          UploadId: uploadId,
          PartNumber: n,
          CopySource: copySource(s3, from),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      parts.push({ ETag: res.CopyPartResult?.ETag ?? '', PartNumber: n });
    }
    await s3.client.send(new CompleteMultipartUploadCommand({ Bucket: s3.bucket, Key: to, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  } catch (err) {
    await s3.client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: to, UploadId: uploadId })).catch(() => undefined);
    throw storageError('UploadPartCopy', to, err);
  }
}

function copySource(s3: S3Store, key: string): string {
  return `${s3.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
