/**
 * Backup and restore without mongodump or mc (docs/deploy.md, Backups): the
 * database as one JSON-lines file per collection (MongoDB Extended JSON, so
 * dates and ids come back with their types) plus its indexes, and an S3 bucket
 * copied object by object to another bucket, on the same or another S3 service.
 * test/backup-restore.test.ts restores an image from both and serves it again.
 *
 *   node --import tsx tools/backup.ts dump-db DIR            # the database in MONGO_URL -> DIR
 *   node --import tsx tools/backup.ts restore-db DIR         # DIR -> the database in MONGO_URL (collections replaced)
 *   node --import tsx tools/backup.ts copy-bucket FROM TO    # every object of bucket FROM into bucket TO (S3_* settings)
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BSON, MongoClient, type Document } from 'mongodb';

const LINES = '.jsonl';
const INDEXES = '.indexes.json';

/** Writes every collection of the database named in `mongoUrl` into `dir`; returns documents per collection. */
export async function dumpDatabase(mongoUrl: string, dir: string): Promise<Record<string, number>> {
  const client = await MongoClient.connect(mongoUrl);
  try {
    const db = client.db();
    await mkdir(dir, { recursive: true });
    const counts: Record<string, number> = {};
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      if (name.startsWith('system.')) continue;
      const out = createWriteStream(path.join(dir, name + LINES));
      let n = 0;
      for await (const doc of db.collection(name).find({}, { sort: { _id: 1 } })) {
        if (!out.write(BSON.EJSON.stringify(doc, { relaxed: false }) + '\n')) await once(out, 'drain');
        n++;
      }
      out.end();
      await once(out, 'finish');
      const indexes = (await db.collection(name).listIndexes().toArray()).filter((i) => i.name !== '_id_');
      await writeFile(path.join(dir, name + INDEXES), JSON.stringify(indexes.map(({ key, name: indexName, unique }) => ({ key, name: indexName, unique })), null, 1));
      counts[name] = n;
    }
    return counts;
  } finally {
    await client.close();
  }
}

/** Loads a `dumpDatabase` folder into the database named in `mongoUrl`, replacing the collections it holds. */
export async function restoreDatabase(mongoUrl: string, dir: string): Promise<Record<string, number>> {
  const client = await MongoClient.connect(mongoUrl);
  try {
    const db = client.db();
    const counts: Record<string, number> = {};
    for (const file of (await readdir(dir)).filter((f) => f.endsWith(LINES))) {
      const name = file.slice(0, -LINES.length);
      await db.collection(name).drop().catch(() => false); // absent is fine
      const collection = db.collection(name);
      let batch: Document[] = [];
      let n = 0;
      for await (const line of createInterface({ input: createReadStream(path.join(dir, file)), crlfDelay: Infinity })) {
        if (line.trim() === '') continue;
        batch.push(BSON.EJSON.parse(line, { relaxed: false }) as Document);
        if (batch.length === 1000) {
          await collection.insertMany(batch, { ordered: true });
          n += batch.length;
          batch = [];
        }
      }
      if (batch.length > 0) await collection.insertMany(batch, { ordered: true });
      n += batch.length;
      const indexes = JSON.parse(await readFile(path.join(dir, name + INDEXES), 'utf8').catch(() => '[]')) as Array<{ key: Document; name: string; unique?: boolean }>;
      for (const index of indexes) await collection.createIndex(index.key, { name: index.name, ...(index.unique ? { unique: true } : {}) });
      counts[name] = n;
    }
    return counts;
  } finally {
    await client.close();
  }
}

export interface BucketRef {
  client: S3Client;
  bucket: string;
}

/**
 * Copies every object of `from` into `to` (streamed, never held whole; multipart above 8 MiB),
 * keeping Content-Type and Cache-Control. Objects already in `to` with the same size are skipped,
 * so an interrupted copy resumes. Returns objects copied and skipped.
 */
export async function copyBucket(from: BucketRef, to: BucketRef): Promise<{ copied: number; skipped: number }> {
  const existing = new Map<string, number>();
  for await (const page of paginateListObjectsV2({ client: to.client }, { Bucket: to.bucket })) {
    for (const o of page.Contents ?? []) if (o.Key) existing.set(o.Key, o.Size ?? -1);
  }
  let copied = 0;
  let skipped = 0;
  for await (const page of paginateListObjectsV2({ client: from.client }, { Bucket: from.bucket })) {
    for (const o of page.Contents ?? []) {
      if (!o.Key) continue;
      if (existing.get(o.Key) === o.Size) {
        skipped++;
        continue;
      }
      const got = await from.client.send(new GetObjectCommand({ Bucket: from.bucket, Key: o.Key }));
      await new Upload({
        client: to.client,
        params: { Bucket: to.bucket, Key: o.Key, Body: got.Body as NodeJS.ReadableStream & { length?: number }, ContentType: got.ContentType, CacheControl: got.CacheControl },
      }).done();
      copied++;
    }
  }
  return { copied, skipped };
}

async function main(argv: string[]): Promise<void> {
  const { loadConfig } = await import('../shared/config.js');
  const { S3Store } = await import('../shared/storage/s3-store.js');
  const config = loadConfig();
  const [command, a, b] = argv;
  if (command === 'dump-db' && a) {
    console.log(JSON.stringify(await dumpDatabase(config.mongoUrl, a)));
  } else if (command === 'restore-db' && a) {
    console.log(JSON.stringify(await restoreDatabase(config.mongoUrl, a)));
  } else if (command === 'copy-bucket' && a && b) {
    const s3 = new S3Store(config.s3);
    await new S3Store({ ...config.s3, bucket: b }).ensureBucket();
    console.log(JSON.stringify(await copyBucket({ client: s3.client, bucket: a }, { client: s3.client, bucket: b })));
    s3.close();
  } else {
    console.error('usage: tools/backup.ts dump-db DIR | restore-db DIR | copy-bucket FROM TO');
    process.exit(2);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`backup: ${(err as Error).message}`);
    process.exit(1);
  });
}
