/**
 * The servers of a benchmark run: one redis-server and one s3rver on free loopback ports,
 * started as child processes whose PIDs the harness keeps (their CPU is measured from
 * /proc). Buckets are created fresh per run and their folders removed afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { freePort, s3rverClient, waitForPort } from '../../test/helpers/servers.js';

const require = createRequire(import.meta.url);

export interface BenchServers {
  redis: { port: number; pid: number; client: Redis };
  s3: {
    port: number;
    pid: number;
    endpoint: string;
    dir: string;
    client: S3Client;
    /** Credentials (s3rver's `S3RVER` when absent). */
    accessKey?: string;
    secretKey?: string;
  };
  createBucket(name: string): Promise<void>;
  /** Drops a bucket's objects from s3rver's disk (not timed; keeps the work dir small). */
  removeBucket(name: string): Promise<void>;
  listObjects(bucket: string): Promise<Array<{ key: string; size: number; etag: string; lastModified: number }>>;
  close(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startServers(workDir: string): Promise<BenchServers> {
  const redisPort = await freePort();
  const redisDir = join(workDir, 'redis');
  await mkdir(redisDir, { recursive: true });
  const redisChild = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  await waitForPort(redisPort);
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null });

  const s3Port = await freePort();
  const s3Dir = join(workDir, 's3rver');
  await rm(s3Dir, { recursive: true, force: true });
  await mkdir(s3Dir, { recursive: true });
  const endpoint = `http://127.0.0.1:${s3Port}`;
  // --openssl-legacy-provider: s3rver's continuation tokens use a cipher Node 20 dropped.
  const s3Child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      require.resolve('s3rver/bin/s3rver.js'),
      '--directory',
      s3Dir,
      '--port',
      String(s3Port),
      '--address',
      '127.0.0.1',
      '--no-vhost-buckets',
      '--silent',
    ],
    { stdio: 'ignore' },
  );
  await waitForPort(s3Port);
  const s3Client = s3rverClient(endpoint);

  return {
    redis: { port: redisPort, pid: redisChild.pid!, client: redis },
    s3: { port: s3Port, pid: s3Child.pid!, endpoint, dir: s3Dir, client: s3Client },
    async createBucket(name) {
      await s3Client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async removeBucket(name) {
      await rm(join(s3Dir, name), { recursive: true, force: true });
    },
    async listObjects(bucket) {
      const objects: Array<{ key: string; size: number; etag: string; lastModified: number }> = [];
      let token: string | undefined;
      do {
        const page = await s3Client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const object of page.Contents ?? []) {
          objects.push({
            key: object.Key!,
            size: object.Size ?? -1,
            etag: (object.ETag ?? '').replace(/"/g, ''),
            lastModified: object.LastModified?.getTime() ?? 0,
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return objects;
    },
    async close() {
      s3Client.destroy();
      redis.disconnect();
      for (const child of [s3Child, redisChild]) {
        child.kill('SIGTERM');
        await exited(child);
      }
    },
  };
}
