/** How app.ts builds the scrub: the scrubber, its republish path (the publisher), the periodic timer, and `/stats`. */
import type { LiveConfig, Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { RedisClient } from '../queue/index.js';
import type { Storage } from '../storage/index.js';
import type { Publisher, RootPolicy } from '../publish/index.js';
import { followBatch, type BatchProgress, type BatchResult } from '../batches/index.js';
import type { StatsReader } from '../monitoring/index.js';
import type { ScrubMetrics } from '../metrics/index.js';
import { createScrubber, type Scrubber } from './scrubber.js';
import { createPeriodicScrub, type PeriodicScrub } from './periodic.js';
import type { Republish } from './repair.js';

export interface ScrubWiringDeps {
  redis: RedisClient;
  storage: Storage;
  log: Logger;
  metrics: ScrubMetrics;
  publisher: Publisher;
  batches: { progress(id: string): Promise<BatchProgress | undefined>; result(id: string): Promise<BatchResult | undefined> };
  roots: () => RootPolicy;
  live: LiveConfig;
}

export interface ScrubWiring {
  scrubber: Scrubber;
  periodic: PeriodicScrub;
  /** The stats reader with `scrub`: the last scrub's summary (null before the first). */
  withLastScrub(stats: StatsReader): StatsReader;
}

export function createScrubWiring(deps: ScrubWiringDeps, config: Config): ScrubWiring {
  const republish: Republish = async (items, signal) => {
    const summary = await deps.publisher.publish(items);
    const failedKeys = new Promise<string[]>((resolve, reject) => {
      const follower = followBatch(
        deps.batches,
        summary.batch_id,
        { progress: () => {}, result: (result) => resolve(result.failed_files), gone: () => reject(new Error('republish batch expired')) },
        { intervalMs: 500 },
      );
      signal.addEventListener(
        'abort',
        () => {
          follower.stop();
          reject(new Error('scrub stopped while its republish ran'));
        },
        { once: true },
      );
    });
    return { batchId: summary.batch_id, failedKeys };
  };
  const scrubber = createScrubber(
    { redis: deps.redis, storage: deps.storage, log: deps.log, metrics: deps.metrics, republish, roots: deps.roots },
    {
      prefix: config.redis.key_prefix,
      settings: () => {
        const current = deps.live.current().scrub;
        return {
          hashConcurrency: current.hash_concurrency,
          orphanGraceHours: current.orphan_grace_hours,
          resultTtlDays: current.result_ttl_days,
          maxListedProblems: current.max_listed_problems,
        };
      },
    },
  );
  const periodic = createPeriodicScrub(
    { scrubber, log: deps.log },
    { intervalMs: config.scrub.interval_hours * 3_600_000, prefix: config.scrub.prefix },
  );
  return {
    scrubber,
    periodic,
    withLastScrub: (stats) => ({
      async read() {
        const base = await stats.read();
        let scrub = null;
        try {
          scrub = await scrubber.lastSummary();
        } catch {
          // Redis answered the queue counts a moment ago: a failure here only hides the scrub line.
        }
        return { ...base, scrub };
      },
    }),
  };
}
