/**
 * The one wiring file: builds every component from the config, and owns the order in
 * which they start and close (HTTP, then workers, then queues, then Redis, then storage).
 */
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from './config/index.js';
import { secretValues } from './config/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import {
  UPLOAD_QUEUE,
  closeRedis,
  createFailFastRedis,
  uploadJobOptions,
  workerConnectionOptions,
  type FileSyncJobData,
  type FileSyncResult,
} from './queue/index.js';
import { createStorage, type Storage } from './storage/index.js';
import { createExistenceChecker, createExistenceRecorder } from './check/index.js';
import { createPublisher } from './publish/index.js';
import { createFileSync, createUploadWorker, type UploadWorker } from './sync/index.js';
import { createHttpServer, registerCheckRoutes, registerHealthRoutes, registerPublishRoutes } from './http/index.js';

export interface AppOptions {
  /** Logger to use (defaults to logfmt on stdout at the configured level). */
  log?: Logger;
  /** Listen here instead of `http.addr` (tests use port 0). */
  listen?: { host: string; port: number };
  /** Storage to use instead of the configured one (tests may wrap it). */
  storage?: Storage;
}

export interface App {
  readonly config: Config;
  readonly log: Logger;
  readonly http: FastifyInstance;
  readonly uploads: Queue<FileSyncJobData, FileSyncResult>;
  readonly metrics: Metrics;
  /** `http://host:port` once started. */
  url: string;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function parseListenAddress(addr: string): { host: string; port: number } {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(addr.slice(separator + 1)) };
}

function bucketId(config: Config): string {
  return config.storage.type === 's3' ? config.s3.bucket : 'fs';
}

export function createApp(config: Config, options: AppOptions = {}): App {
  const log = options.log ?? createLogger({ level: config.daemon.log_level, secrets: secretValues(config) });
  const metrics = createMetrics();
  const storage = options.storage ?? createStorage(config);
  const prefix = config.redis.key_prefix;

  // Request paths get their own fail-fast connection; workers get BullMQ's own.
  const apiRedis: Redis = createFailFastRedis(config.redis, 'sync4loong-api');
  const workerRedis: Redis = createFailFastRedis(config.redis, 'sync4loong-worker-cache');
  // `/check` reads on its own connection: a hung Redis costs a check 1 s, then it asks S3;
  // auto-pipelining sends the GETs of concurrent checks in one write (fewer syscalls under load).
  const checkRedis: Redis = createFailFastRedis(config.redis, 'sync4loong-check', { commandTimeout: 1000, enableAutoPipelining: true });
  for (const client of [apiRedis, workerRedis, checkRedis]) {
    client.on('error', (error: Error) => log.debug({ err: error }, 'redis connection error'));
  }

  const uploads = new Queue<FileSyncJobData, FileSyncResult>(UPLOAD_QUEUE, { connection: apiRedis, prefix });
  uploads.on('error', (error) => log.debug({ err: error }, 'queue error'));

  const publisher = createPublisher(
    {
      sink: {
        isReady: () => apiRedis.status === 'ready',
        addBulk: (jobs) => uploads.addBulk(jobs),
      },
      log,
    },
    { maxItems: config.publish.max_items, jobOptions: uploadJobOptions(config.publish) },
  );

  const recorder = createExistenceRecorder(
    { redis: workerRedis, log },
    { prefix, bucketId: bucketId(config), positiveTtlSeconds: config.cache.positive_ttl_seconds },
  );
  const checker = createExistenceChecker(
    { redis: checkRedis, storage, log, metrics: metrics.check },
    {
      prefix,
      bucketId: bucketId(config),
      allowedPrefixes: config.cache.allowed_prefixes,
      positiveTtlSeconds: config.cache.positive_ttl_seconds,
      negativeTtlSeconds: config.cache.negative_ttl_seconds,
      maxConcurrentHeads: config.cache.max_concurrent_s3_checks,
      headTimeoutMs: config.cache.s3_timeout_seconds * 1000,
      maxBatchKeys: config.cache.max_batch_keys,
    },
  );
  const fileSync = createFileSync({ storage, cache: recorder, log, metrics: metrics.sync });
  const worker: UploadWorker = createUploadWorker(
    { fileSync, log, metrics: metrics.sync },
    {
      connection: workerConnectionOptions(config.redis),
      prefix,
      concurrency: config.daemon.concurrency,
      timeoutMs: config.publish.timeout_minutes * 60_000,
      shutdownTimeoutMs: config.daemon.shutdown_timeout_seconds * 1000,
    },
  );

  const http = createHttpServer({ log }, { bodyLimit: config.http.body_limit_bytes });
  registerPublishRoutes(http, { publisher });
  registerCheckRoutes(http, { checker });
  registerHealthRoutes(http, {
    probes: [
      { name: 'redis', check: async () => void (await apiRedis.ping()) },
      { name: 'storage', check: () => storage.ping() },
    ],
  });

  let closing: Promise<void> | undefined;
  const app: App = {
    config,
    log,
    http,
    uploads,
    metrics,
    url: '',
    async start() {
      await worker.start();
      const listen = options.listen ?? parseListenAddress(config.http.addr);
      await http.listen({ host: listen.host, port: listen.port });
      const address = http.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : listen.port;
      const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
      app.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      log.info(
        { addr: `${listen.host}:${port}`, storage: storage.description, concurrency: config.daemon.concurrency, redis: config.redis.addr },
        'daemon started',
      );
    },
    close() {
      closing ??= (async () => {
        await http.close();
        checker.close();
        await worker.close();
        await uploads.close();
        await closeRedis(checkRedis);
        await closeRedis(workerRedis);
        await closeRedis(apiRedis);
        storage.close();
        log.info('daemon stopped');
      })();
      return closing;
    },
  };
  return app;
}
