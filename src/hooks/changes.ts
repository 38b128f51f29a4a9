import type { RedisClient as Redis } from '../queue/index.js';

/**
 * What changed since the post-sync command last succeeded, held in Redis (not in job
 * data: BullMQ's `replace` deduplication drops the data of the job it replaces).
 *
 * - `pending`: uploads not yet taken by a run: a hash `{count, since}` (`since` is when
 *   the first of them was recorded, Redis time in ms) and a list of at most `maxKeys` keys.
 * - `inflight`: what the current (or last failed) run took. It is cleared only when a run
 *   succeeds, so a retry, a run after a failure, or a run re-started after a crash still
 *   reports every file uploaded since the last success.
 *
 * Every step is one Lua script, so several workers and daemons on one Redis never lose
 * or double-count an upload, and taking the changes is atomic with clearing them.
 */
export interface ChangeSet {
  /** Adds `count` uploads (the first `keys` of them by name); returns the timing the debounce needs. */
  record(keys: readonly string[], count: number): Promise<PendingTiming | undefined>;
  /** Moves pending changes into the running batch and returns the whole batch. */
  take(): Promise<ChangeBatch>;
  /** Forgets the batch once a run has reported it successfully. */
  commit(): Promise<void>;
  /** Uploads not yet reported by a successful run (pending and in-flight). */
  summary(): Promise<{ uploaded_count: number; first_upload_at: string | null }>;
}

/** Redis time of the first pending upload and of now, in ms. */
export interface PendingTiming {
  since: number;
  now: number;
}

export interface ChangeBatch {
  count: number;
  keys: string[];
}

export interface ChangeSetOptions {
  /** Prefix of the keys, `<key_prefix>:hooks`. */
  keyPrefix: string;
  /** Most keys kept by name (the count keeps counting past it). */
  maxKeys: number;
}

/** Redis's Lua `unpack` has a stack limit (~8000 values): push in slices. */
const ARGV_SLICE = 1000;

// KEYS: pending hash, pending keys. ARGV: count, max keys, key...
const RECORD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local count = tonumber(ARGV[1])
if count > 0 then
  redis.call('HINCRBY', KEYS[1], 'count', count)
  redis.call('HSETNX', KEYS[1], 'since', now)
end
local room = tonumber(ARGV[2]) - redis.call('LLEN', KEYS[2])
local last = math.min(#ARGV, 2 + room)
for i = 3, last, ${ARGV_SLICE} do
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + ${ARGV_SLICE - 1}, last)))
end
local since = redis.call('HGET', KEYS[1], 'since')
if not since then return false end
return {since, tostring(now)}
`;

// KEYS: pending hash, pending keys, inflight hash, inflight keys. ARGV: max keys.
const TAKE = `
local moved = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
if moved > 0 then redis.call('HINCRBY', KEYS[3], 'count', moved) end
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[4])
if room > 0 then
  local keys = redis.call('LRANGE', KEYS[2], 0, room - 1)
  for i = 1, #keys, ${ARGV_SLICE} do
    redis.call('RPUSH', KEYS[4], unpack(keys, i, math.min(i + ${ARGV_SLICE - 1}, #keys)))
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
local total = redis.call('HGET', KEYS[3], 'count') or '0'
return {total, redis.call('LRANGE', KEYS[4], 0, -1)}
`;

export function createChangeSet(deps: { redis: Redis }, options: ChangeSetOptions): ChangeSet {
  const { redis } = deps;
  const pending = `${options.keyPrefix}:pending`;
  const pendingKeys = `${options.keyPrefix}:pending:keys`;
  const inflight = `${options.keyPrefix}:inflight`;
  const inflightKeys = `${options.keyPrefix}:inflight:keys`;

  return {
    async record(keys, count) {
      // One call whatever the size (callers send at most `maxKeys` names), so a run never
      // takes the count without its names.
      const names = keys.length > options.maxKeys ? keys.slice(0, options.maxKeys) : keys;
      const reply = (await redis.eval(RECORD, 2, pending, pendingKeys, count, options.maxKeys, ...names)) as [string, string] | null;
      return reply === null ? undefined : { since: Number(reply[0]), now: Number(reply[1]) };
    },
    async take() {
      const [count, keys] = (await redis.eval(TAKE, 4, pending, pendingKeys, inflight, inflightKeys, options.maxKeys)) as [
        string | number,
        string[],
      ];
      return { count: Number(count), keys };
    },
    async commit() {
      await redis.del(inflight, inflightKeys);
    },
    async summary() {
      const [pendingHash, inflightCount] = await Promise.all([redis.hgetall(pending), redis.hget(inflight, 'count')]);
      const since = pendingHash.since === undefined ? null : new Date(Number(pendingHash.since)).toISOString();
      return { uploaded_count: Number(pendingHash.count ?? 0) + Number(inflightCount ?? 0), first_upload_at: since };
    },
  };
}
