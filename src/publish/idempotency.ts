/**
 * `Idempotency-Key` on `POST /publish`: the first request with a key claims it (SET NX of
 * a pending marker holding the body's SHA-256), publishes, then stores its summary; a
 * retry with the same body inside the window gets that summary back (same batch id) and
 * enqueues nothing. Another body under the same key, or a duplicate while the first is
 * still publishing, is a 409. A publish that fails releases the key, so a retry can run.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { AppError, errors } from '../errors.js';
import type { Logger } from '../log/index.js';
import type { Publisher } from './publisher.js';
import type { PublishSummary } from './types.js';

const PRINTABLE = /^[\x20-\x7e]{1,200}$/;

/** Whether a header value is a usable key (1-200 printable ASCII characters). */
export function isIdempotencyKey(value: unknown): value is string {
  return typeof value === 'string' && PRINTABLE.test(value);
}

/**
 * Values nested deeper than this are hashed as one marker: no item field is nested at all,
 * so only unknown fields (ignored by the publish) get there, and a hash that recursed
 * through 400,000 levels would overflow the stack (a 500) where the publish itself is fine.
 */
const HASHED_DEPTH = 32;

/** SHA-256 of the body as JSON (whitespace does not matter), with depth bounded: never throws. */
export function bodyDigest(body: unknown): string {
  const hash = createHash('sha256');
  const write = (value: unknown, depth: number): void => {
    if (depth > HASHED_DEPTH) {
      hash.update('"<deeper>"');
    } else if (Array.isArray(value)) {
      hash.update('[');
      value.forEach((inner, index) => {
        if (index > 0) hash.update(',');
        write(inner, depth + 1);
      });
      hash.update(']');
    } else if (typeof value === 'object' && value !== null) {
      hash.update('{');
      Object.entries(value).forEach(([key, inner], index) => {
        hash.update(`${index > 0 ? ',' : ''}${JSON.stringify(key)}:`);
        write(inner, depth + 1);
      });
      hash.update('}');
    } else {
      hash.update(JSON.stringify(value) ?? 'null');
    }
  };
  write(body, 0);
  return hash.digest('hex');
}

export interface IdempotentPublishOptions {
  /** `[redis] key_prefix`. */
  prefix: string;
  /** `[publish] idempotency_hours`, in seconds. */
  ttlSeconds: number;
  /** A pending claim expires this long after its last refresh (a daemon that died mid-publish frees it). */
  pendingTtlMs?: number;
}

export interface IdempotentPublisher {
  /** Publishes, or replays the stored summary when `key` was used before with the same body. */
  publish(body: unknown, key: string | undefined): Promise<{ summary: PublishSummary; replayed: boolean }>;
}

interface StoredClaim {
  state: 'pending' | 'done';
  hash: string;
  token?: string;
  summary?: PublishSummary;
}

// Compare-and-set on the exact pending marker: only the claimant completes, extends or releases it.
const COMPLETE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export function createIdempotentPublisher(
  deps: { publisher: Publisher; redis: Redis | Cluster; log: Logger },
  options: IdempotentPublishOptions,
): IdempotentPublisher {
  const { publisher, redis, log } = deps;
  const pendingTtlMs = options.pendingTtlMs ?? 60_000;

  async function claim(redisKey: string, pending: string, hash: string): Promise<StoredClaim | undefined> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if ((await redis.set(redisKey, pending, 'PX', pendingTtlMs, 'NX')) === 'OK') return undefined;
      const existing = await redis.get(redisKey);
      if (existing === null) continue; // released or expired in between: claim again
      let stored: StoredClaim;
      try {
        stored = JSON.parse(existing) as StoredClaim;
      } catch {
        throw errors.idempotencyKeyReused();
      }
      if (stored.hash !== hash) throw errors.idempotencyKeyReused();
      if (stored.state === 'done' && stored.summary !== undefined) return stored;
      throw errors.idempotencyInProgress();
    }
    throw errors.idempotencyInProgress();
  }

  return {
    async publish(body, key) {
      if (key === undefined) return { summary: await publisher.publish(body), replayed: false };
      const hash = bodyDigest(body);
      const redisKey = `${options.prefix}:idempotency:${key}`;
      const pending = JSON.stringify({ state: 'pending', hash, token: randomUUID() } satisfies StoredClaim);
      let stored: StoredClaim | undefined;
      try {
        stored = await claim(redisKey, pending, hash);
      } catch (error) {
        if (error instanceof AppError) throw error;
        log.error({ err: error }, 'idempotency claim failed');
        throw errors.queueUnavailable();
      }
      if (stored !== undefined) return { summary: stored.summary!, replayed: true };

      // A long walk keeps its claim alive; a daemon that dies lets it expire.
      const keepAlive = setInterval(() => {
        redis.eval(EXTEND, 1, redisKey, pending, pendingTtlMs).catch(() => undefined);
      }, pendingTtlMs / 3);
      try {
        const summary = await publisher.publish(body);
        const done = JSON.stringify({ state: 'done', hash, summary } satisfies StoredClaim);
        await redis.eval(COMPLETE, 1, redisKey, pending, done, Math.round(options.ttlSeconds * 1000)).catch((error: unknown) => {
          // The jobs are queued: answer success; only a retry's replay is lost.
          log.warn({ err: error, batch_id: summary.batch_id }, 'idempotent reply not stored');
        });
        return { summary, replayed: false };
      } catch (error) {
        await redis.eval(RELEASE, 1, redisKey, pending).catch(() => undefined);
        throw error;
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}
