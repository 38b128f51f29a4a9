/**
 * The one wiring file: builds every component from the config, and owns the order in
 * which they start and close (HTTP, then workers, then queues, then Redis, then storage).
 */
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/index.js';
import { secretValues } from './config/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import {
  UPLOAD_QUEUE,
  closeRedis,
  createFailFastRedis,
  uploadJobOptions,
  uploadRetention,
  workerConnection,
  type RedisClient,
  type FileSyncJobData,
  type FileSyncResult,
} from './queue/index.js';
import { createStorage, instrumentStorage, type Storage } from './storage/index.js';
import { createExistenceRecorder } from './check/index.js';
import { createPublisher, createRootPolicy } from './publish/index.js';
import { createFileSync, createOutageGate, createUploadWorker, type UploadWorker } from './sync/index.js';
import {
  createHttpServer,
  registerAuth,
  registerHealthRoutes,
  registerHooksRoutes,
  registerMetricsRoute,
  registerPublishRoutes,
  registerQueueUi,
  registerStatsRoute,
} from './http/index.js';
import { createStatsReader } from './monitoring/index.js';
import { createPostSync, postSyncOptions, type PostSync } from './hooks/index.js';

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
  /** The post-sync command (its queue is `hooks.queue`). */
  readonly hooks: PostSync;
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
  const storage = instrumentStorage(options.storage ?? createStorage(config), metrics.storage);
  const prefix = config.redis.key_prefix;

  // Request paths get their own fail-fast connection; workers get BullMQ's own.
  const apiRedis: RedisClient = createFailFastRedis(config.redis, 'sync4loong-api');
  const workerRedis: RedisClient = createFailFastRedis(config.redis, 'sync4loong-worker-cache');
  for (const client of [apiRedis, workerRedis]) {
    client.on('error', (error: Error) => log.debug({ err: error }, 'redis connection error'));
  }

  const uploads = new Queue<FileSyncJobData, FileSyncResult>(UPLOAD_QUEUE, { connection: apiRedis, prefix });
  uploads.on('error', (error) => log.debug({ err: error }, 'queue error'));

  const roots = createRootPolicy(config.publish.allowed_roots);
  const publisher = createPublisher(
    {
      sink: {
        isReady: () => apiRedis.status === 'ready',
        addBulk: (jobs) => uploads.addBulk(jobs),
      },
      log,
    },
    { maxItems: config.publish.max_items, jobOptions: uploadJobOptions(config.publish), roots },
  );

  const recorder = createExistenceRecorder({ redis: workerRedis, log }, { prefix, bucketId: bucketId(config), positiveTtlSeconds: 0 });
  const hooks = createPostSync(
    { redis: workerRedis, log, metrics: metrics.hooks },
    { ...postSyncOptions(config), connection: workerConnection(config.redis) },
  );
  /** Every queue of the daemon: shown in the UI, counted in /metrics and /stats. */
  const queues: Queue[] = [uploads, hooks.queue];
  metrics.watchQueues(queues, (error) => log.debug({ err: error }, 'queue metrics unavailable'));
  const fileSync = createFileSync(
    { storage, cache: recorder, log, metrics: metrics.sync, onUploaded: (key) => hooks.notifyUpload(key) },
    { compare: config.publish.compare, roots },
  );
  const outage = createOutageGate({ ping: (signal) => storage.ping(signal), log }, { probeIntervalMs: 2000 });
  const worker: UploadWorker = createUploadWorker(
    { fileSync, log, metrics: metrics.sync, outage },
    {
      connection: workerConnection(config.redis),
      prefix,
      concurrency: config.daemon.concurrency,
      timeoutMs: config.publish.timeout_minutes * 60_000,
      shutdownTimeoutMs: config.daemon.shutdown_timeout_seconds * 1000,
      lockMs: config.daemon.job_lock_seconds * 1000,
      retention: uploadRetention(config.publish),
    },
  );

  const http = createHttpServer({ log }, { bodyLimit: config.http.body_limit_bytes });
  registerAuth(http, {
    tokens: () => config.http.auth_tokens,
    publicPaths: ['/healthz', '/readyz'],
    publicCheck: () => config.http.public_check,
    uiPrefix: config.asynqmon.root_path,
  });
  registerPublishRoutes(http, { publisher });
  registerHooksRoutes(http, { hooks });
  registerHealthRoutes(http, {
    probes: [
      {
        name: 'redis',
        check: async () => {
          if (apiRedis.status !== 'ready') throw new Error(`not connected (${apiRedis.status})`);
          await apiRedis.ping();
        },
      },
      { name: 'storage', check: (signal) => storage.ping(signal) },
    ],
  });
  registerMetricsRoute(http, { registry: metrics.registry });
  registerStatsRoute(http, { stats: createStatsReader({ queues, throughput: metrics.throughput }, { timeoutMs: 2000 }) });
  if (config.asynqmon.enabled) {
    registerQueueUi(http, { queues }, { rootPath: config.asynqmon.root_path, readOnly: config.asynqmon.read_only_mode });
  }

  let closing: Promise<void> | undefined;
  const app: App = {
    config,
    log,
    http,
    uploads,
    metrics,
    hooks,
    url: '',
    async start() {
      await warnAboutRedisPersistence(apiRedis, log);
      await worker.start();
      await hooks.start();
      const listen = options.listen ?? parseListenAddress(config.http.addr);
      await http.listen({ host: listen.host, port: listen.port });
      const address = http.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : listen.port;
      const host = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
      app.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      warnAboutExposure(config, listen.host, log);
      log.info(
        { addr: `${listen.host}:${port}`, storage: storage.description, concurrency: config.daemon.concurrency, redis: config.redis.addr },
        'daemon started',
      );
    },
    close() {
      closing ??= (async () => {
        await http.close();
        await worker.close();
        await hooks.close();
        await uploads.close();
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

/** Queue data must survive restarts and memory pressure: say so when Redis is not set up for it. */
async function warnAboutRedisPersistence(redis: RedisClient, log: Logger): Promise<void> {
  try {
    if (redis.status !== 'ready') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise((resolve) => redis.once('ready', resolve)),
        new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
      ]);
      clearTimeout(timer);
      if ((redis.status as string) !== 'ready') return;
    }
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== undefined && policy !== 'noeviction') {
      log.warn({ policy }, 'redis maxmemory-policy can evict queue data: set it to noeviction');
    }
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as [string, string];
    if (appendonly === 'no') log.info('redis appendonly is off: queued jobs since the last snapshot are lost if redis crashes');
  } catch {
    // CONFIG is often disabled on managed Redis: nothing to check then.
  }
}

/** Says loudly when the daemon can be told to upload any readable file by anyone who reaches it. */
function warnAboutExposure(config: Config, host: string, log: Logger): void {
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  const auth = config.http.auth_tokens.length > 0;
  if (config.publish.allowed_roots.length === 0) {
    const fields = { listen: host, auth };
    if (!loopback && !auth) {
      log.error(
        fields,
        'UNSAFE: no auth and no publish.allowed_roots while listening beyond loopback: anyone who reaches this port can upload any file the daemon can read',
      );
    } else {
      log.warn(fields, 'publish.allowed_roots is empty: /publish can upload any file the daemon can read');
    }
  } else if (!loopback && !auth) {
    log.warn({ listen: host }, 'no http.auth_tokens while listening beyond loopback: anyone who reaches this port can publish');
  }
}
