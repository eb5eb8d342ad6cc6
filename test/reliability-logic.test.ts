/**
 * How failures are classified and retried (workers/job-failure.ts,
 * shared/infra-errors.ts) and how the worker's lock timing bounds the
 * handover of a killed worker's job (tile-worker.ts). Pure logic; the faults
 * themselves are injected against real servers in the reliability-*.test.ts files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoNetworkError, MongoServerSelectionError } from 'mongodb';
import { CorruptImageError, HugemapError, StorageError } from '../shared/errors.js';
import { classifyError } from '../shared/infra-errors.js';
import { classifyJobFailure, failureKind, isLastAttempt, retryDelayMs } from '../workers/job-failure.js';
import { handoverWindowMs, lockTiming } from '../workers/tile-worker.js';
import { loadConfig } from '../shared/config.js';

test('driver, Redis, disk and network failures get their transient codes; bad input stays permanent', async () => {
  assert.equal(classifyError(new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed')).code, 'HUGEMAP_ERR_DB_UNAVAILABLE');
  assert.equal(classifyError(new MongoServerSelectionError('Server selection timed out after 1500 ms', { type: 'Unknown', servers: new Map(), stale: false, compatible: true, heartbeatFrequencyMS: 10000, localThresholdMS: 15, setName: null, maxElectionId: null, maxSetVersion: null, commonWireVersion: 0, logicalSessionTimeoutMinutes: null } as never)).code, 'HUGEMAP_ERR_DB_UNAVAILABLE');
  assert.equal(classifyError(new Error('Connection is closed.')).code, 'HUGEMAP_ERR_QUEUE_UNAVAILABLE');
  assert.equal(classifyError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })).code, 'HUGEMAP_ERR_NETWORK');
  assert.equal(classifyError(new Error('something else')).code, 'HUGEMAP_ERR_INTERNAL');
  const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: 'ENOSPC' });
  assert.equal((await classifyJobFailure(enospc, '/tmp')).code, 'HUGEMAP_ERR_DISK_FULL');
  assert.equal((await classifyJobFailure(new Error('VipsForeignSave: write failed'), '/tmp')).code, 'HUGEMAP_ERR_INTERNAL', 'a write error on a disk with room is not a full disk');
  assert.equal(failureKind(new CorruptImageError('x', 'y')), 'permanent');
  assert.equal(failureKind(new StorageError('S3 down')), 'transient');
  assert.equal(failureKind(new HugemapError('HUGEMAP_ERR_INTERNAL', 'bug')), 'internal');
});

test('transient failures back off from RETRY_DELAY_MS doubling to RETRY_MAX_DELAY_MS and use every attempt; internal ones three quick tries', () => {
  const { retry } = loadConfig({});
  assert.deepEqual(retry, { attempts: 12, delayMs: 60_000, maxDelayMs: 3_600_000 });
  const delays = Array.from({ length: 11 }, (_, i) => retryDelayMs('transient', i + 1, retry));
  assert.deepEqual(delays.map((d) => d / 60_000), [1, 2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
  assert.ok(delays.reduce((a, b) => a + b, 0) > 5 * 3_600_000, 'twelve attempts ride out an outage of more than five hours');
  assert.equal(isLastAttempt('transient', 11, 12), false);
  assert.equal(isLastAttempt('transient', 12, 12), true);
  assert.equal(isLastAttempt('internal', 2, 12), false);
  assert.equal(isLastAttempt('internal', 3, 12), true);
  assert.equal(isLastAttempt('permanent', 1, 12), true);
  assert.ok(retryDelayMs('internal', 1, retry) < 10_000);
});

test('a killed worker\'s job is handed over within a sixth of WORKER_LOCK_MS of the lock duration', () => {
  assert.deepEqual(lockTiming(30_000), { lockDuration: 30_000, lockRenewTime: 5_000, stalledInterval: 5_000 });
  assert.deepEqual(handoverWindowMs(30_000), { min: 25_000, max: 35_000 });
});
