/** One publish as it runs, shared by its stages (publisher.ts) and its enqueue stage (enqueue.ts). */
import type { JobsOptions } from 'bullmq';
import type { Logger } from '../log/index.js';
import type { FileSyncJobData } from '../queue/index.js';
import type { SealTotals } from '../batches/index.js';
import type { SyncItem } from './items.js';
import type { BatchLedger, BucketView, JobSink, PublisherOptions, PublishSummary, SkippedEntry } from './types.js';
import type { UniqueKeys } from './unique.js';

/** At most this many skipped entries are listed in a reply (all are counted and logged). */
export const MAX_SKIPPED_LISTED = 100;

export interface ResolvedItem extends SyncItem {
  /** Real path of `from`. */
  root: string;
  isDirectory: boolean;
  size: number;
}

export type QueuedJob = { name: string; data: FileSyncJobData; opts: JobsOptions };
export type PublisherDeps = { sink: JobSink; batches: BatchLedger; log: Logger; bucket?: BucketView; unique?: UniqueKeys };
export type RunDeps = Required<Omit<PublisherDeps, 'unique'>> & Pick<PublisherDeps, 'unique'>;

/** One publish as it runs: what it needs, its reply so far and the counts it seals with. */
export interface PublishRun {
  deps: RunDeps;
  options: PublisherOptions;
  chunkSize: number;
  enqueueTimeoutMs: number;
  orderNix: boolean;
  summary: PublishSummary;
  /** Counts of what is really in the queue, so a publish cut short still seals exactly. */
  totals: SealTotals;
  /**
   * Files `unique` left out (their key has a task already): counted in `totals.present`
   * (the batch counts them as skipped), reported in the reply's `skipped`.
   */
  duplicates: { count: number; listed: SkippedEntry[] };
}
