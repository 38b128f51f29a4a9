/**
 * Scrubs as tracked jobs: one at a time per Redis prefix (a lock key with an expiry that
 * the running scrub renews; a daemon that dies frees it within `LOCK_MS`), each with an id,
 * a status record in Redis (progress while running, then the result, kept
 * `scrub.result_ttl_days`) and the last summary under one key for `/stats`. The scrub runs
 * inside the daemon that accepted it; any daemon on the same Redis answers its status.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import { errors } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { RedisClient } from '../queue/index.js';
import type { Storage } from '../storage/index.js';
import type { RootPolicy } from '../publish/index.js';
import { createRepairer, type Republish } from './repair.js';
import { runScan } from './scan.js';
import { createScratch } from './scratch.js';
import type { Action, ActionKind, ScrubProgress, ScrubRequest, ScrubResult, ScrubStatus, ScrubSummary } from './types.js';

const LOCK_MS = 60_000;
const RENEW_MS = 20_000;
/** Progress is written to Redis at most this often. */
const PROGRESS_WRITE_MS = 1000;

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ScrubSettings {
  hashConcurrency: number;
  orphanGraceHours: number;
  resultTtlDays: number;
  maxListedProblems: number;
}

export interface ScrubberDeps {
  redis: RedisClient;
  storage: Storage;
  log: Logger;
  metrics?: {
    objectsChecked(count: number): void;
    bytesHashed(count: number): void;
    action(kind: ActionKind): void;
    started(): void;
    finished(summary: ScrubSummary | undefined): void;
  };
  /** Publishes files again (`--from`), through the ordinary publisher. */
  republish?: Republish | undefined;
  /** `publish.allowed_roots`, current. */
  roots(): RootPolicy;
}

export interface Scrubber {
  /** Validates the request, takes the lock and starts the scrub; resolves with its id. Throws `scrubRunning` (409). */
  start(body: unknown): Promise<string>;
  /** The scrub's status, or undefined when unknown or expired. Throws `invalidScrubId` for a malformed id. */
  status(id: string): Promise<ScrubStatus | undefined>;
  /** The summary of the last scrub that finished on this Redis prefix, or null. */
  lastSummary(): Promise<ScrubSummary | null>;
  /** Resolves when the scrub this daemon runs (if any) is over. */
  idle(): Promise<void>;
  /** Stops a running scrub (its status becomes `failed`, the lock is released). */
  close(): Promise<void>;
}

/** The request body of `POST /scrub`, checked field by field. */
export function parseScrubRequest(body: unknown): ScrubRequest {
  const raw = (body ?? {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw errors.badRequest('scrub body must be a JSON object');
  const flag = (name: string): boolean => {
    const value = raw[name];
    if (value === undefined) return false;
    if (typeof value !== 'boolean') throw errors.badRequest(`'${name}' must be a boolean`);
    return value;
  };
  const prefix = raw.prefix ?? '';
  if (typeof prefix !== 'string' || prefix.startsWith('/') || prefix.includes('\u0000'))
    throw errors.badRequest("'prefix' must be a key prefix");
  const from = raw.from;
  if (from !== undefined && (typeof from !== 'string' || !from.startsWith('/'))) throw errors.badRequest("'from' must be an absolute path");
  const request: ScrubRequest = { prefix, hashes: flag('hashes'), repair: flag('repair'), deleteOrphans: flag('delete_orphans'), from };
  if (from !== undefined && !request.repair) throw errors.badRequest("'from' needs 'repair'");
  return request;
}

export function createScrubber(deps: ScrubberDeps, options: { prefix: string; settings: () => ScrubSettings }): Scrubber {
  const { redis, log } = deps;
  const lockKey = `${options.prefix}:scrub:lock`;
  const lastKey = `${options.prefix}:scrub:last`;
  const recordKey = (id: string) => `${options.prefix}:scrub:job:${id}`;
  let running: { abort: AbortController; done: Promise<void> } | undefined;

  async function write(status: ScrubStatus, ttlSeconds: number): Promise<void> {
    await redis.set(recordKey(status.id), JSON.stringify(status), 'EX', ttlSeconds);
  }

  async function checkFrom(from: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(from);
      if (!(await stat(real)).isDirectory()) throw new Error('not a folder');
    } catch {
      throw errors.scrubFromInvalid(from);
    }
    const roots = deps.roots();
    // Republishing uploads local files: it must be as restricted as /publish, and never open when no roots are set.
    if (!roots.restricted || !roots.allows(real)) throw errors.scrubFromNotAllowed(from);
    return real;
  }

  async function run(id: string, request: ScrubRequest, startedAt: Date, abort: AbortController): Promise<void> {
    const settings = options.settings();
    const ttlSeconds = Math.round(settings.resultTtlDays * 86_400);
    const status: ScrubStatus = {
      id,
      state: 'running',
      request,
      started_at: startedAt.toISOString(),
      progress: { phase: 'listing', objects_listed: 0, narinfos_checked: 0, nars_hashed: 0, bytes_hashed: 0 },
    };
    const scratch = createScratch({ redis }, { prefix: options.prefix, id, ttlSeconds: 86_400 });
    const renew = setInterval(() => {
      redis
        .eval(RENEW, 1, lockKey, id, LOCK_MS)
        .then((renewed) => {
          if (renewed === 0 && !abort.signal.aborted) abort.abort(new Error('scrub lock lost (another daemon took it after an expiry)'));
        })
        .catch((error: unknown) => log.debug({ err: error }, 'scrub lock renewal failed'));
    }, RENEW_MS);
    let lastWrite = 0;
    const onProgress = (progress: ScrubProgress) => {
      status.progress = { ...progress };
      const now = Date.now();
      if (now - lastWrite < PROGRESS_WRITE_MS && progress.phase !== 'done') return;
      lastWrite = now;
      write(status, ttlSeconds).catch((error: unknown) => log.debug({ err: error }, 'scrub progress write failed'));
    };
    const actions: Action[] = [];
    const repairs = request.repair || request.deleteOrphans;
    const repairer = repairs
      ? createRepairer(
          {
            storage: deps.storage,
            log,
            republish: request.from === undefined ? undefined : deps.republish,
            signal: abort.signal,
            onAction: (action) => {
              actions.push(action);
              deps.metrics?.action(action.action);
            },
          },
          {
            root: request.prefix.slice(0, request.prefix.lastIndexOf('/') + 1),
            from: request.from,
            date: startedAt.toISOString().slice(0, 10),
          },
        )
      : undefined;
    deps.metrics?.started();
    log.info(
      { scrub_id: id, prefix: request.prefix, hashes: request.hashes, repair: request.repair, delete_orphans: request.deleteOrphans },
      'scrub started',
    );
    let result: ScrubResult | undefined;
    try {
      result = await runScan(
        {
          storage: deps.storage,
          scratch,
          log,
          actions,
          repairer,
          onProgress,
          onObjects: deps.metrics?.objectsChecked,
          onHashedBytes: deps.metrics?.bytesHashed,
          signal: abort.signal,
        },
        {
          hashConcurrency: settings.hashConcurrency,
          readConcurrency: 16,
          orphanGraceMs: settings.orphanGraceHours * 3_600_000,
          maxListedProblems: settings.maxListedProblems,
          now: Date.now,
        },
        request,
        { id, startedAt },
      );
      status.state = 'done';
      status.result = result;
      const { problems: _listed, actions: _taken, ...summary } = result;
      await redis.set(lastKey, JSON.stringify(summary), 'EX', ttlSeconds);
      log.info(
        {
          scrub_id: id,
          kind: result.kind,
          objects: result.objects,
          problems: result.problem_count,
          unrepaired: result.unrepaired_count,
          duration_s: result.duration_seconds,
        },
        'scrub finished',
      );
    } catch (error) {
      status.state = 'failed';
      status.error = (abort.signal.aborted ? (abort.signal.reason as Error | undefined)?.message : undefined) ?? (error as Error).message;
      log.error({ scrub_id: id, err: error }, 'scrub failed');
    } finally {
      clearInterval(renew);
      deps.metrics?.finished(result === undefined ? undefined : (({ problems: _p, actions: _a, ...summary }) => summary)(result));
      await write(status, ttlSeconds).catch((error: unknown) => log.warn({ err: error, scrub_id: id }, 'scrub status write failed'));
      await scratch.drop().catch(() => {});
      await redis.eval(RELEASE, 1, lockKey, id).catch(() => {});
    }
  }

  return {
    async start(body) {
      const request = parseScrubRequest(body);
      const { storage } = deps;
      if (storage.list === undefined || storage.read === undefined)
        throw errors.storageCannotScrub(storage.description, 'list and read objects');
      if ((request.repair || request.deleteOrphans) && storage.remove === undefined) {
        throw errors.storageCannotScrub(storage.description, 'remove objects');
      }
      if (request.from !== undefined) request.from = await checkFrom(request.from);
      const id = randomUUID();
      const taken = await redis.set(lockKey, id, 'PX', LOCK_MS, 'NX');
      if (taken !== 'OK') throw errors.scrubRunning((await redis.get(lockKey)) ?? 'unknown');
      const startedAt = new Date();
      const abort = new AbortController();
      // Every read in flight (16 narinfos, up to 64 NARs being hashed) listens to it.
      setMaxListeners(256, abort.signal);
      const settings = options.settings();
      await write(
        {
          id,
          state: 'running',
          request,
          started_at: startedAt.toISOString(),
          progress: { phase: 'listing', objects_listed: 0, narinfos_checked: 0, nars_hashed: 0, bytes_hashed: 0 },
        },
        Math.round(settings.resultTtlDays * 86_400),
      );
      const done = run(id, request, startedAt, abort).finally(() => {
        if (running?.done === done) running = undefined;
      });
      running = { abort, done };
      return id;
    },
    async status(id) {
      if (!UUID.test(id)) throw errors.invalidScrubId();
      // The lock first: a scrub writes its final record before releasing it, so this order never sees a false "abandoned".
      const holder = await redis.get(lockKey);
      const record = await redis.get(recordKey(id));
      if (record === null) return undefined;
      const status = JSON.parse(record) as ScrubStatus;
      // Running, but its lock expired or belongs to another scrub: the daemon running it died.
      if (status.state === 'running' && holder !== id) status.state = 'abandoned';
      return status;
    },
    async lastSummary() {
      const summary = await redis.get(lastKey);
      return summary === null ? null : (JSON.parse(summary) as ScrubSummary);
    },
    async idle() {
      await running?.done;
    },
    async close() {
      const current = running;
      if (current === undefined) return;
      current.abort.abort(new Error('daemon shutting down'));
      await current.done;
    },
  };
}
