/**
 * Lua scripts keeping a batch's counters exact: each runs atomically in Redis, so workers
 * of several daemons, retries and re-runs after a crash all agree on one count.
 *
 * Keys of a batch (all with the batch TTL, refreshed on every write; `{id}` is a hash tag):
 *   KEYS[1] `<prefix>:batch:{id}`          hash: created_at, items, sealed, totals, counters
 *   KEYS[2] `<prefix>:batch:{id}:jobs`     hash: job id -> final outcome class
 *   KEYS[3] `<prefix>:batch:{id}:keys`     hash: S3 key -> final outcome class (Nix ordering)
 *   KEYS[4] `<prefix>:batch:{id}:failed`   set of `<item index>\t<key>` that failed for good
 *   KEYS[5] `<prefix>:batch:{id}:reasons`  hash: `<item index>\t<key>` -> failure reason
 *   KEYS[6] `<prefix>:batch:{id}:waiters`  hash: awaited key (or `\tlast`) -> job ids waiting
 *
 * Counter fields: `uploaded`, `skipped`, `failed`, `done` (jobs with a final outcome),
 * `done_after` / `done_last` (of those, narinfos waiting for a NAR / files that go last),
 * `i<n>:<class>` per request item, and after sealing `total`, `total_after`, `total_last`,
 * `i<n>:total`.
 */

/** Shared by the scripts: whether every job not ordered last, or every job not ordered at all, is done. */
const COMPLETION = `
local function completion(batch)
  local s = redis.call('HMGET', batch, 'sealed', 'total', 'total_after', 'total_last', 'done', 'done_after', 'done_last')
  if s[1] ~= '1' then return false, false end
  local total, after, last = tonumber(s[2]) or 0, tonumber(s[3]) or 0, tonumber(s[4]) or 0
  local done, done_after, done_last = tonumber(s[5]) or 0, tonumber(s[6]) or 0, tonumber(s[7]) or 0
  return (done - done_last) >= (total - last), (done - done_after - done_last) >= (total - after - last)
end
local function refresh(ttl)
  for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
end
`;

/**
 * Records the final outcome of one job. ARGV: job id, outcome class, item index, S3 key,
 * order (`none|after|last`), failure reason, now (ms), TTL (s), and `first` to record only
 * a job that has no outcome yet (a job removed from the queue by hand).
 * A job recorded again with the same class changes nothing; with another class its
 * counts move from the old class to the new one. Returns the ids of jobs to wake (waiting
 * for this key, or for the batch to complete), or -1 when the batch is unknown.
 */
export const RECORD_OUTCOME = `${COMPLETION}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local job, outcome, item, key, order, reason, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local member = item .. '\\t' .. key
local previous = redis.call('HGET', KEYS[2], job)
if previous and ARGV[9] == 'first' then return {} end
if previous == outcome then
  if outcome == 'failed' then redis.call('HSET', KEYS[5], member, reason) end
  return {}
end
if previous then
  redis.call('HINCRBY', KEYS[1], previous, -1)
  redis.call('HINCRBY', KEYS[1], 'i' .. item .. ':' .. previous, -1)
  if previous == 'failed' then
    redis.call('SREM', KEYS[4], member)
    redis.call('HDEL', KEYS[5], member)
  end
else
  redis.call('HINCRBY', KEYS[1], 'done', 1)
  if order ~= 'none' then redis.call('HINCRBY', KEYS[1], 'done_' .. order, 1) end
end
redis.call('HINCRBY', KEYS[1], outcome, 1)
redis.call('HINCRBY', KEYS[1], 'i' .. item .. ':' .. outcome, 1)
redis.call('HSET', KEYS[2], job, outcome)
redis.call('HSET', KEYS[3], key, outcome)
if outcome == 'failed' then
  redis.call('SADD', KEYS[4], member)
  redis.call('HSET', KEYS[5], member, reason)
end
local wake = {}
local waiting = redis.call('HGET', KEYS[6], key)
if waiting then
  redis.call('HDEL', KEYS[6], key)
  for id in string.gmatch(waiting, '%S+') do table.insert(wake, id) end
end
local all_but_last, all_unordered = completion(KEYS[1])
if all_but_last or all_unordered then
  -- Narinfos whose NAR never came, and the files that go last, decide now.
  local rest = redis.call('HVALS', KEYS[6])
  redis.call('DEL', KEYS[6])
  for _, ids in ipairs(rest) do
    for id in string.gmatch(ids, '%S+') do table.insert(wake, id) end
  end
end
local s = redis.call('HMGET', KEYS[1], 'sealed', 'total', 'done', 'finished_at')
if s[1] == '1' and (tonumber(s[3]) or 0) >= (tonumber(s[2]) or 0) and not s[4] then
  redis.call('HSET', KEYS[1], 'finished_at', now)
end
refresh(ARGV[8])
return wake
`;

/**
 * Seals a batch once the publish has enqueued all its jobs. ARGV: jobs enqueued,
 * total_after, total_last, entries skipped by the walk, now (ms), TTL (s), then per item
 * its jobs and its files left out because the bucket held them (counted as skipped and
 * done). Sealing twice changes nothing.
 */
export const SEAL = `${COMPLETION}
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], 'sealed') == '1' then return 0 end
local present = 0
for i = 7, #ARGV, 2 do
  local item, jobs, found = (i - 7) / 2, tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  redis.call('HSET', KEYS[1], 'i' .. item .. ':total', jobs + found)
  if found > 0 then redis.call('HINCRBY', KEYS[1], 'i' .. item .. ':skipped', found) end
  present = present + found
end
local total = tonumber(ARGV[1]) + present
redis.call('HSET', KEYS[1], 'sealed', '1', 'total', total, 'total_after', ARGV[2], 'total_last', ARGV[3], 'skipped_entries', ARGV[4])
if present > 0 then
  redis.call('HINCRBY', KEYS[1], 'skipped', present)
  redis.call('HINCRBY', KEYS[1], 'done', present)
end
local s = redis.call('HMGET', KEYS[1], 'done', 'finished_at')
if (tonumber(s[1]) or 0) >= total and not s[2] then redis.call('HSET', KEYS[1], 'finished_at', ARGV[5]) end
refresh(ARGV[6])
return 1
`;

/**
 * Whether a job ordered after a key (`after`) or after the rest of its batch (`last`) may
 * run. ARGV: order, awaited key, job id. Answers `proceed`, `failed` (the awaited key
 * failed for good), `missing` (every other job is done and the key never came), `wait`
 * (the job is registered to be woken), or `gone` (the batch expired or never existed).
 */
export const GATE = `${COMPLETION}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local order, key, job = ARGV[1], ARGV[2], ARGV[3]
local all_but_last, all_unordered = completion(KEYS[1])
local field
if order == 'after' then
  local outcome = redis.call('HGET', KEYS[3], key)
  if outcome == 'failed' then return 'failed' end
  if outcome then return 'proceed' end
  if all_unordered then return 'missing' end
  field = key
else
  if all_but_last then return 'proceed' end
  field = '\\tlast'
end
local waiting = redis.call('HGET', KEYS[6], field) or ''
if not string.find(' ' .. waiting .. ' ', ' ' .. job .. ' ', 1, true) then
  redis.call('HSET', KEYS[6], field, waiting == '' and job or (waiting .. ' ' .. job))
end
-- Waiting does not keep a batch alive: the waiters expire with it, and a batch whose
-- publish died before sealing runs out instead of holding its narinfos forever.
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[6], ttl) end
return 'wait'
`;

/** Marks a batch as started by its first job (no-op when already marked or unknown). ARGV: now (ms). */
export const MARK_STARTED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
`;
