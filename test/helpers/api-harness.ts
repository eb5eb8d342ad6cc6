/**
 * The API app (createApp) on port 0 against the real test servers, with its
 * own database, bucket and queue prefix, plus direct clients so tests can look
 * behind the API (S3 objects, MongoDB documents, BullMQ jobs).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import type { Config } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { createTileQueue, type TileJobData } from '../../shared/queue.js';
import { StatusEvents } from '../../shared/status-events.js';
import { StatusStore } from '../../shared/status-store.js';
import { S3Store } from '../../shared/storage/s3-store.js';
import { createApp, type ApiDeps } from '../../services/api/app.js';
import type { TestServers } from './servers.js';
import { testConfig } from './test-config.js';

export interface TestApi {
  base: string;
  config: Config;
  store: StatusStore;
  events: StatusEvents;
  queue: Queue<TileJobData>;
  s3: S3Store;
  /** What the app was built from (for tests that build a second app or walk its routes). */
  deps: ApiDeps;
  close(): Promise<void>;
}

/** `servers`: from `await useTestServers()` at the top level of the test file (so they outlive every test). */
export async function startTestApi(
  servers: TestServers,
  name: string,
  overrides: Record<string, string> = {},
  replace: Partial<ApiDeps> = {},
): Promise<TestApi> {
  const config = await testConfig(servers, name, overrides);
  const events = new StatusEvents(config.redisUrl, config.queuePrefix);
  const store = await StatusStore.connect(config.mongoUrl, { onChange: (doc) => events.publish(doc) });
  const queue = createTileQueue(config.redisUrl, config.queuePrefix);
  const s3 = new S3Store(config.s3);
  await s3.ensureBucket();
  const deps: ApiDeps = { config, store, events, queue, s3, logger: createLogger('api-test', 'silent'), ...replace };
  const server = http.createServer(createApp(deps));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    config,
    store,
    events,
    queue,
    s3,
    deps,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([queue.close(), events.close(), store.close()]);
    },
  };
}

/** A port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Error bodies must be one line of JSON with a code, never a stack trace. */
export function assertNoStack(text: string): void {
  if (/\n\s+at |at .+:\d+:\d+\)|\.ts:\d+|node_modules/.test(text)) throw new Error(`response leaks a stack trace: ${text}`);
}
