/** What the publisher needs (queue, batch ledger, bucket view) and what it answers. */
import type { JobsOptions } from 'bullmq';
import type { FileSyncJobData } from '../queue/index.js';
import type { SealTotals } from '../batches/index.js';
import type { ListPageFn } from './listing.js';
import type { RootPolicy } from './roots.js';

/** The part of a BullMQ queue the publisher uses. */
export interface JobSink {
  /** Whether Redis is reachable right now (checked before a publish starts). */
  isReady(): boolean;
  addBulk(jobs: Array<{ name: string; data: FileSyncJobData; opts?: JobsOptions }>): Promise<unknown>;
}

/** Where the publisher opens a batch before enqueuing and seals it with its totals after. */
export interface BatchLedger {
  create(id: string, items: ReadonlyArray<{ from: string; to: string }>): Promise<void>;
  seal(id: string, totals: SealTotals): Promise<void>;
  /** Keys found in the bucket and left out of the queue (so narinfos waiting on them go ahead). */
  recordPresent(id: string, keys: readonly string[]): Promise<void>;
}

/** The publisher's view of the bucket and the existence cache. */
export interface BucketView {
  /** A page of the bucket's keys under a prefix (`Storage.list`); undefined when the backend cannot list. */
  list?: ListPageFn | undefined;
  /** Told about files found in the bucket and left out of the queue (existence cache, metrics), as a worker's skip would be. */
  notePresent?: (entries: ReadonlyArray<{ key: string; size: number }>) => Promise<void>;
}

export interface PublisherOptions {
  maxItems: number;
  /** `[publish] allowed_roots`. */
  roots: RootPolicy;
  /** Jobs per pipelined `addBulk` (one Redis round trip each). */
  chunkSize?: number;
  jobOptions: JobsOptions;
  /** A chunk that takes longer than this to enqueue fails the publish with 503. */
  enqueueTimeoutMs?: number;
  /** `[nix] order_narinfo`: narinfos after their NAR, `nix-cache-info` last. */
  orderNix?: boolean;
  /** `[publish] list_remote`: list each published folder's destination once while walking it. */
  listRemote?: boolean;
  /** `[publish] compare`: only `size` lets a listing alone decide a skip. */
  compare?: 'size' | 'checksum';
  /** `[publish] list_timeout_seconds`, in ms: the longest a folder's enqueue waits for its listing. */
  listingWaitMs?: number;
  /** `[nix] validate_narinfo`: narinfos then always go to a worker, which checks them. */
  validateNarinfo?: boolean;
  /** `publish.max_file_bytes`: larger files are skipped with a reason (undefined: no limit). */
  maxFileBytes?: number | undefined;
}

export interface PublishedItem {
  from: string;
  to: string;
  total_files: number;
}

/** A file inside a published folder that was not enqueued, and why. */
export interface SkippedEntry {
  path: string;
  reason: string;
}

export interface PublishSummary {
  /** Id of the batch holding this publish's jobs (`GET /batches/{id}`). */
  batch_id: string;
  total_files: number;
  /** Of those, files the bucket already held with the same size: counted as skipped, not enqueued. */
  present_files: number;
  items: PublishedItem[];
  skipped_count: number;
  skipped: SkippedEntry[];
}
