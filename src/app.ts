/**
 * The one wiring file: builds every component from the config, and owns the order in
 * which they start and close (HTTP, then workers, then queues, then Redis, then storage).
 */
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Config, LiveConfig } from './config/index.js';
import { fixedConfig, redactUrl, secretValues } from './config/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import {
  UPLOAD_QUEUE,
  closeRedis,
  closeWithin,
  createFailFastRedis,
  uploadJobOptions,
  uploadRetention,
  workerConnection,
  type RedisClient,
  type FileSyncJobData,
  type FileSyncResult,
} from './queue/index.js';
import { createStorage, instrumentStorage, type Storage } from './storage/index.js';
import { createExistenceChecker, createExistenceRecorder } from './check/index.js';
import { createIdempotentPublisher, createPublisher, createRootPolicy, createUniqueKeys, trackingUniqueKeys } from './publish/index.js';
import { createBatchStore, createBatchTracker } from './batches/index.js';
import { createFileSync, createOutageGate, createUploadWorker, type UploadWorker } from './sync/index.js';
import {
  createHttpServer,
  isAuthorized,
  registerAuth,
  registerCrossSiteGuard,
  registerBatchRoutes,
  registerScrubRoutes,
  registerCheckRoutes,
  registerHealthRoutes,
  registerHooksRoutes,
  registerMetricsRoute,
  registerPublishRoutes,
  registerQueueUi,
  registerStatsRoute,
  listenOn,
  parseListenAddress,
  type RemovedJob,
} from './http/index.js';
import { createStatsReader } from './monitoring/index.js';
import { createPostSync, postSyncOptions, type PostSync } from './hooks/index.js';
import { createUploadThrottle, type ThrottleSettings, type UploadThrottle } from './throttle/index.js';
import { createScrubWiring } from './scrub/wiring.js'; // scrub (issue 20.1)

export interface AppOptions {
  /** Logger to use (defaults to logfmt on stdout at the configured level). */
  log?: Logger;
  /** Listen here instead of `http.addr` (tests use port 0). */
  listen?: { host: string; port: number };
  /** Storage to use instead of the configured one (tests may wrap it). */
  storage?: Storage;
  /**
   * The reloadable config (the daemon's, from `createLiveConfig`); its current config must
   * be the one given. Without it the config is fixed for the app's life.
   */
  live?: LiveConfig;
}

export interface App {
  /** The running config (changes with accepted reloads). */
  readonly config: Config;
  readonly live: LiveConfig;
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

/** Names the storage in existence-cache keys: two daemons share entries only for the same storage. */
function bucketId(config: Config): string {
  if (config.storage.type === 'sftp') {
    const { host, port, root } = config.sftp;
    return `sftp:${host}:${port}${root === '' ? '' : `:${root}`}`;
  }
  return config.storage.type === 's3' ? config.s3.bucket : 'fs';
}

export function createApp(config: Config, options: AppOptions = {}): App {
  const log = options.log ?? createLogger({ level: config.daemon.log_level, secrets: secretValues(config) });
  const live = options.live ?? fixedConfig(config, log);
  const { role } = config.daemon;
  const servesApi = role !== 'worker';
  const runsWorkers = role !== 'api';
  const metrics = createMetrics();
  const storage = instrumentStorage(options.storage ?? createStorage(config), metrics.storage);
  const prefix = config.redis.key_prefix;

  // Request paths get their own fail-fast connection; workers get BullMQ's own.
  const apiRedis: RedisClient = createFailFastRedis(config.redis, 'sync4loong-api');
  const workerRedis: RedisClient = createFailFastRedis(config.redis, 'sync4loong-worker-cache');
  // `/check` reads on its own connection: a hung Redis costs a check 1 s, then it asks S3;
  // auto-pipelining sends the GETs of concurrent checks in one write (fewer syscalls under load).
  const checkRedis: RedisClient = createFailFastRedis(config.redis, 'sync4loong-check', {
    commandTimeout: 1000,
    enableAutoPipelining: true,
  });
  for (const client of [apiRedis, workerRedis, checkRedis]) {
    client.on('error', (error: Error) => log.debug({ err: error }, 'redis connection error'));
  }

  const uploads = new Queue<FileSyncJobData, FileSyncResult>(UPLOAD_QUEUE, { connection: apiRedis, prefix });
  uploads.on('error', (error) => log.debug({ err: error }, 'queue error'));

  const roots = live.select((current) => createRootPolicy(current.publish.allowed_roots));
  const batchOptions = { prefix, ttlSeconds: Math.round(config.publish.batch_ttl_hours * 3600) };
  const apiBatches = createBatchStore({ redis: apiRedis }, batchOptions);
  const publisher = createPublisher(
    {
      sink: {
        isReady: () => apiRedis.status === 'ready',
        addBulk: (jobs) => uploads.addBulk(jobs),
      },
      batches: apiBatches,
      log,
      unique: createUniqueKeys({ redis: apiRedis }, { prefix }),
      bucket: {
        list: storage.list?.bind(storage),
        notePresent: async (entries) => {
          for (let index = 0; index < entries.length; index += 1) metrics.sync.skipped();
          await apiRecorder.recordExistsMany(entries);
        },
      },
    },
    live.select((current) => ({
      maxItems: current.publish.max_items,
      jobOptions: uploadJobOptions(current.publish),
      roots: roots(),
      orderNix: current.nix.order_narinfo,
      listRemote: current.publish.list_remote,
      listingWaitMs: current.publish.list_timeout_seconds * 1000,
      compare: current.publish.compare,
      validateNarinfo: current.nix.validate_narinfo,
      maxFileBytes: current.publish.max_file_bytes || undefined,
    })),
  );
  const idempotentPublisher = createIdempotentPublisher(
    { publisher, redis: apiRedis, log },
    { prefix, ttlSeconds: Math.round(config.publish.idempotency_hours * 3600) },
  );
  const batchTracker = createBatchTracker({
    store: createBatchStore({ redis: workerRedis }, batchOptions),
    log,
    // Moves a job waiting in the delayed set to the wait list; false while it is still active.
    wake: async (jobId) => {
      const job = await uploads.getJob(jobId);
      if (job === undefined) return true;
      const state = await job.getState();
      if (state === 'delayed') await job.promote();
      return state !== 'active';
    },
  });
  // Jobs published with `unique` hold their key's claim until they finish or fail (publish/unique.ts).
  const uniqueBatchTracker = trackingUniqueKeys(batchTracker, createUniqueKeys({ redis: workerRedis }, { prefix }), log);

  // Cache prefixes and TTLs are read at each use, so a reloaded config applies at once.
  const cacheSettings = {
    prefix,
    bucketId: bucketId(config),
    get allowedPrefixes() {
      return live.current().cache.allowed_prefixes;
    },
    get positiveTtlSeconds() {
      return live.current().cache.positive_ttl_seconds;
    },
    get negativeTtlSeconds() {
      return live.current().cache.negative_ttl_seconds;
    },
    get maxBatchKeys() {
      return live.current().cache.max_batch_keys;
    },
    maxConcurrentHeads: config.cache.max_concurrent_s3_checks,
    headTimeoutMs: config.cache.s3_timeout_seconds * 1000,
  };
  const recorder = createExistenceRecorder({ redis: workerRedis, log }, cacheSettings);
  const apiRecorder = createExistenceRecorder({ redis: apiRedis, log }, cacheSettings);
  const checker = createExistenceChecker({ redis: checkRedis, storage, log, metrics: metrics.check }, cacheSettings);
  const hooks = createPostSync(
    { redis: workerRedis, log, metrics: metrics.hooks },
    { ...postSyncOptions(config), connection: workerConnection(config.redis), runWorker: runsWorkers },
  );
  /** Every queue of the daemon: shown in the UI, counted in /metrics and /stats. */
  const queues: Queue[] = [uploads, hooks.queue];
  metrics.watchQueues(queues, (error) => log.debug({ err: error }, 'queue metrics unavailable'));
  // One per daemon: the bandwidth cap, request rate and AIMD concurrency of all its uploads.
  const throttle = runsWorkers ? createUploadThrottle({ log, metrics: metrics.throttle }, throttleSettings(config)) : undefined;
  if (throttle !== undefined) metrics.throttle.watch(() => throttle.stats());
  const fileSync = createFileSync(
    { storage, cache: recorder, log, metrics: metrics.sync, onUploaded: (key) => hooks.notifyUpload(key), pacing: throttle },
    live.select((current) => ({
      compare: current.publish.compare,
      roots: roots(),
      validateNarinfo: current.nix.validate_narinfo,
      listingTrustMs: current.publish.list_trust_seconds * 1000,
      maxFileBytes: current.publish.max_file_bytes || undefined,
    })),
  );
  const outage = createOutageGate({ ping: (signal) => storage.ping(signal), log }, { probeIntervalMs: 2000 });
  // An api-only daemon runs no upload worker: the worker daemons on the same Redis do.
  const worker: UploadWorker | undefined = runsWorkers
    ? createUploadWorker(
        { fileSync, log, metrics: metrics.sync, outage, batches: uniqueBatchTracker, throttle },
        {
          connection: workerConnection(config.redis),
          prefix,
          ...uploadWorkerSettings(config),
          lockMs: config.daemon.job_lock_seconds * 1000,
        },
      )
    : undefined;
  followConfig(live, { log, worker, hooks, throttle });
  const scrub = createScrubWiring(
    { redis: apiRedis, storage, log, metrics: metrics.scrub, publisher, batches: apiBatches, roots, live },
    config,
  );

  const http = createHttpServer(
    { log },
    {
      bodyLimit: config.http.body_limit_bytes,
      headerTimeoutMs: config.http.header_timeout_seconds * 1000,
      requestTimeoutMs: config.http.request_timeout_seconds * 1000,
    },
  );
  registerAuth(http, {
    tokens: () => live.current().http.auth_tokens,
    publicPaths: ['/healthz', '/readyz'],
    publicCheck: () => live.current().http.public_check,
    uiPrefix: config.asynqmon.root_path,
  });
  registerCrossSiteGuard(http);
  if (servesApi) {
    registerPublishRoutes(http, { publisher: idempotentPublisher });
    registerBatchRoutes(http, {
      batches: apiBatches,
      maxStreams: () => live.current().http.max_event_streams,
      streams: metrics.eventStreams,
    });
    registerHooksRoutes(http, { hooks });
    registerCheckRoutes(http, { checker });
    registerScrubRoutes(http, { scrubber: scrub.scrubber });
  }
  const details = () => ({ role, config: live.status() });
  registerHealthRoutes(http, {
    details,
    authorized: (request) => isAuthorized(request, live.current().http.auth_tokens),
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
  registerStatsRoute(http, {
    stats: scrub.withLastScrub(
      createStatsReader({ queues, throughput: metrics.throughput, throttle: throttle?.stats }, { timeoutMs: 2000 }),
    ),
    details,
  });
  if (servesApi && config.asynqmon.enabled) {
    const readOnly = () => live.current().asynqmon.read_only_mode;
    // A job removed in the UI before it ran never reports to its batch: counted failed here.
    const onRemoved = async (queue: Queue, jobs: RemovedJob[]) => {
      if (queue === uploads)
        await uniqueBatchTracker.removed(jobs as Array<{ id: string; data: FileSyncJobData }>, 'removed from the queue in the web UI');
    };
    registerQueueUi(http, { queues, onRemoved, log }, { rootPath: config.asynqmon.root_path, readOnly });
  }

  let closing: Promise<void> | undefined;
  const app: App = {
    get config() {
      return live.current();
    },
    live,
    log,
    http,
    uploads,
    metrics,
    hooks,
    url: '',
    async start() {
      await warnAboutRedisPersistence(apiRedis, log);
      warnAboutHostKeys(config, log);
      await worker?.start();
      await hooks.start();
      scrub.periodic.start();
      const listen = options.listen ?? parseListenAddress(config.http.addr);
      const bound = await listenOn(http, listen);
      const address = http.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : listen.port;
      const host = bound === '0.0.0.0' || bound === '::' ? '127.0.0.1' : bound;
      app.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (servesApi) warnAboutExposure(live.current(), bound, log);
      const current = live.current();
      log.info(
        {
          addr: `${bound.includes(':') ? `[${bound}]` : bound}:${port}`,
          role,
          storage: storage.description,
          concurrency: current.daemon.concurrency,
          redis: redactUrl(config.redis.addr),
          config_hash: live.status().hash,
        },
        'daemon started',
      );
    },
    close() {
      closing ??= (async () => {
        await http.close();
        scrub.periodic.close();
        await scrub.scrubber.close();
        checker.close();
        batchTracker.close();
        await worker?.close();
        await Promise.all([hooks.close(), closeWithin('upload queue', uploads, log)]);
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

function uploadWorkerSettings(config: Config) {
  return {
    concurrency: config.daemon.concurrency,
    timeoutMs: config.publish.timeout_minutes * 60_000,
    shutdownTimeoutMs: config.daemon.shutdown_timeout_seconds * 1000,
    retention: uploadRetention(config.publish),
  };
}

function throttleSettings(config: Config): ThrottleSettings {
  const { daemon } = config;
  return {
    maxBytesPerSecond: daemon.max_upload_bytes_per_second,
    maxRequestsPerSecond: daemon.max_requests_per_second,
    pauseMs: daemon.throttle_pause_seconds * 1000,
    concurrency: { max: daemon.concurrency, min: daemon.min_concurrency, recoverAfter: daemon.throttle_recovery_successes },
  };
}

/**
 * The live keys that components must act on (the others are read where they are used:
 * tokens, allowed roots, job options, compare mode, read-only mode). A module with live
 * keys of its own adds one `live.subscribe(...)` line here.
 */
function followConfig(
  live: LiveConfig,
  parts: { log: Logger; worker: UploadWorker | undefined; hooks: PostSync; throttle: UploadThrottle | undefined },
): void {
  live.subscribe(async (next, previous) => {
    if (next.daemon.log_level !== previous.daemon.log_level) parts.log.level = next.daemon.log_level;
    // Before the worker: its concurrency is the throttle's limit.
    parts.throttle?.update(throttleSettings(next));
    parts.worker?.update(uploadWorkerSettings(next));
    await parts.hooks.update(postSyncOptions(next));
  });
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

/** The Go daemon's SFTP behaviour, kept on request: said at every start. */
function warnAboutHostKeys(config: Config, log: Logger): void {
  if (config.storage.type !== 'sftp' || !config.sftp.insecure_ignore_host_key) return;
  log.warn(
    { host: config.sftp.host, port: config.sftp.port },
    'sftp.insecure_ignore_host_key is on: the SFTP server is not verified, anyone on the path can take the uploads and the login',
  );
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
