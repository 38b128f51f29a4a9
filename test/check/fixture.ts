/**
 * The stack of the /check tests: the real daemon whose S3 endpoint is a counting proxy in
 * front of s3rver, so every HEAD the daemon makes is seen (and S3 can be made to hang).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import type { RedisServer, S3Server } from '../helpers/servers.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { createBucket, rawConfig, request, startApp, type TestApp } from '../helpers/daemon.js';

type Overrides = Parameters<typeof rawConfig>[2];

export interface CheckStack {
  daemon: TestApp;
  proxy: Proxy;
  bucket: string;
  /** HEADs the daemon sent for exactly this key. */
  heads(key: string): number;
  /** Puts an object straight into s3rver (not through the proxy, not through the daemon). */
  put(key: string, body?: string): Promise<void>;
  /** Redis key of the cache entry of `key`. */
  entryKey(key: string): string;
  /** A plain Redis client for inspecting the cache. */
  redis: Redis;
  del(path: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function startCheckStack(redisServer: RedisServer, s3: S3Server, overrides: Overrides = {}): Promise<CheckStack> {
  const bucket = await createBucket(s3);
  const proxy = await startProxy(s3.port);
  const raw = rawConfig(redisServer, { ...s3, endpoint: proxy.endpoint }, overrides, bucket);
  const daemon = await startApp(raw);
  const redis = new Redis({ host: '127.0.0.1', port: redisServer.port, maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  await redis.connect();
  const prefix = daemon.config.redis.key_prefix;
  return {
    daemon,
    proxy,
    bucket,
    redis,
    heads: (key) => proxy.requests.filter((r) => r.method === 'HEAD' && r.path.split('?')[0] === `/${bucket}/${key}`).length,
    async put(key, body = 'content') {
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    // The documented cache entry key: <redis.key_prefix>:exists:<bucket>:<key> (docs/http-api.md).
    entryKey: (key) => `${prefix}:exists:${bucket}:${key}`,
    del: (path) => request(daemon.url, 'DELETE', path),
    async close() {
      await daemon.close();
      redis.disconnect();
      await proxy.close();
    },
  };
}

/** Runs `count` GETs of `path` at once. */
export function concurrently<T>(count: number, run: (index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => run(index)));
}

export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
