/**
 * Runs a group of storage-facing tests once per S3 server: s3rver (a fake that checks no
 * digest, started per group like `useServers`) and Ceph RGW (a real S3 server, shared by
 * the whole run: rgw.ts). Each test makes its own bucket, as everywhere.
 *
 *   eachStorageServer((server) => {
 *     it('publishes', async () => {
 *       const { redis, s3, raw } = server();
 *       const bucket = await createBucket(s3);
 *       const app = await startApp(raw({ publish: { ... } }, bucket));
 *
 * RGW cannot be stopped by a test (it is shared): put a proxy in front for outages, as
 * the s3rver tests do anyway (s3rver tears objects when stopped).
 */
import { after, before, describe } from 'node:test';
import { rawConfig } from './daemon.js';
import { rgwAsS3Server, rgwConfig, rgwSkip, useRgw } from './rgw.js';
import { startRedis, useServers, type RedisServer, type S3Server } from './servers.js';

type RawConfig = ReturnType<typeof rawConfig>;

export interface StorageServer {
  name: 's3rver' | 'rgw';
  redis: RedisServer;
  /** The S3 server: its port (for a proxy), endpoint, and an SDK client for assertions. */
  s3: S3Server;
  /** A daemon config for this server and `bucket`, through `endpoint` (a proxy's) when given. */
  raw(overrides: Record<string, Record<string, unknown>>, bucket: string, endpoint?: string): RawConfig;
}

export const STORAGE_SERVERS = ['s3rver', 'rgw'] as const;

export function eachStorageServer(body: (server: () => StorageServer) => void): void {
  for (const name of STORAGE_SERVERS) {
    const skip = name === 'rgw' ? rgwSkip() : undefined;
    describe(`on ${name}`, { skip }, () => {
      let server: StorageServer | undefined;
      if (name === 's3rver') {
        useServers(({ redis, s3 }) => {
          server = {
            name,
            redis,
            s3,
            raw: (overrides, bucket, endpoint = s3.endpoint) => rawConfig(redis, { ...s3, endpoint }, overrides, bucket),
          };
        });
      } else {
        let redis: RedisServer | undefined;
        let s3: S3Server | undefined;
        useRgw((info) => {
          s3 = rgwAsS3Server(info, '');
          server = {
            name,
            redis: undefined as unknown as RedisServer,
            s3,
            raw: (overrides, bucket, endpoint = info.endpoint) =>
              rawConfig(
                server!.redis,
                { ...s3!, endpoint },
                { ...overrides, s3: { ...rgwConfig(info, endpoint), ...overrides.s3 } },
                bucket,
              ),
          };
        });
        before(async () => {
          redis = await startRedis();
          server!.redis = redis;
        });
        after(async () => {
          await Promise.all([redis?.destroy(), s3?.destroy()]);
        });
      }
      body(() => server!);
    });
  }
}
