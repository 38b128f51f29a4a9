/**
 * The scrub's working memory, kept in Redis instead of the process so a bucket of millions
 * of keys costs the daemon one listing page and one scan batch at a time:
 * - `nars`: hash of every NAR key listed → `size:lastModifiedMs`;
 * - `narinfos`: hash of every parsed narinfo key → its facts (NAR key, FileSize, FileHash);
 * - `refs`: set of the NAR keys narinfos name.
 * The joins ("does each narinfo's NAR exist, with its size?", "which NARs does no narinfo
 * name?") are HSCANs of one structure with HMGET / SMISMEMBER into the other, in batches.
 * Every key carries a TTL (a scrub that dies leaves nothing for long) and is deleted at the end.
 * About 100-150 bytes of Redis memory per NAR or narinfo (bench/SCRUB-RESULTS.md).
 */
import type { RedisClient } from '../queue/index.js';
import type { NarinfoFacts } from './checks.js';

export interface ListedNar {
  key: string;
  size: number;
  /** ms since the epoch; 0 when the backend did not say. */
  lastModified: number;
}

export interface Scratch {
  addNars(nars: readonly ListedNar[]): Promise<void>;
  addNarinfos(narinfos: ReadonlyArray<{ key: string; facts: NarinfoFacts }>): Promise<void>;
  /** Every narinfo added, in batches of about `batch`. */
  narinfos(batch?: number): AsyncGenerator<Array<{ key: string; facts: NarinfoFacts }>>;
  /** Every NAR added, in batches of about `batch`. */
  nars(batch?: number): AsyncGenerator<ListedNar[]>;
  /** The listed NARs of these keys (null: not listed). */
  lookupNars(keys: readonly string[]): Promise<Array<ListedNar | null>>;
  /** Whether a narinfo names each of these NAR keys. */
  referenced(keys: readonly string[]): Promise<boolean[]>;
  drop(): Promise<void>;
}

export function createScratch(deps: { redis: RedisClient }, options: { prefix: string; id: string; ttlSeconds: number }): Scratch {
  const { redis } = deps;
  const base = `${options.prefix}:scrub:${options.id}`;
  const narsKey = `${base}:nars`;
  const narinfosKey = `${base}:narinfos`;
  const refsKey = `${base}:refs`;

  function narOf(key: string, value: string): ListedNar {
    const [size, lastModified] = value.split(':');
    return { key, size: Number(size), lastModified: Number(lastModified) };
  }

  async function* scan(key: string, batch: number): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, flat] = await redis.hscan(key, cursor, 'COUNT', batch);
      cursor = next;
      if (flat.length > 0) yield flat;
    } while (cursor !== '0');
  }

  return {
    async addNars(nars) {
      if (nars.length === 0) return;
      const flat = nars.flatMap((nar) => [nar.key, `${nar.size}:${nar.lastModified}`]);
      await redis
        .multi()
        .hset(narsKey, ...flat)
        .expire(narsKey, options.ttlSeconds)
        .exec();
    },
    async addNarinfos(narinfos) {
      if (narinfos.length === 0) return;
      const flat = narinfos.flatMap(({ key, facts }) => [key, JSON.stringify(facts)]);
      await redis
        .multi()
        .hset(narinfosKey, ...flat)
        .sadd(refsKey, ...narinfos.map(({ facts }) => facts.nar))
        .expire(narinfosKey, options.ttlSeconds)
        .expire(refsKey, options.ttlSeconds)
        .exec();
    },
    async *narinfos(batch = 500) {
      // HSCAN may return an entry twice (rehashing): each is handled once.
      for await (const flat of scan(narinfosKey, batch)) {
        const out: Array<{ key: string; facts: NarinfoFacts }> = [];
        for (let index = 0; index < flat.length; index += 2)
          out.push({ key: flat[index]!, facts: JSON.parse(flat[index + 1]!) as NarinfoFacts });
        yield out;
      }
    },
    async *nars(batch = 500) {
      for await (const flat of scan(narsKey, batch)) {
        const out: ListedNar[] = [];
        for (let index = 0; index < flat.length; index += 2) out.push(narOf(flat[index]!, flat[index + 1]!));
        yield out;
      }
    },
    async lookupNars(keys) {
      if (keys.length === 0) return [];
      const values = await redis.hmget(narsKey, ...keys);
      return values.map((value, index) => (value === null ? null : narOf(keys[index]!, value)));
    },
    async referenced(keys) {
      if (keys.length === 0) return [];
      const answers = await redis.smismember(refsKey, ...keys);
      return answers.map((answer) => answer === 1);
    },
    async drop() {
      await redis.del(narsKey, narinfosKey, refsKey);
    },
  };
}
