import { realpath, stat } from 'node:fs/promises';
import type { JobsOptions } from 'bullmq';
import type { Logger } from '../log/index.js';
import { errors, AppError } from '../errors.js';
import { readSetting, type Setting } from '../setting.js';
import { settlesWithin, withTimeout } from '../timeout.js';
import { FILE_SYNC_SINGLE, type FileSyncJobData } from '../queue/index.js';
import { newBatchId, type SealTotals } from '../batches/index.js';
import { parseSyncItems, type SyncItem } from './items.js';
import { folderPrefix, keyForFolderFile, keyForSingleFile, targetProblem } from './keys.js';
import { nixOrderOfFolderFile, nixOrderOfSingleFile } from './nix-order.js';
import { hasAnyFile, walkFiles } from './walk.js';
import { startPrefixListing, type PrefixListing } from './listing.js';
import type { BatchLedger, BucketView, JobSink, PublishedItem, PublisherOptions, PublishSummary } from './types.js';
import { isNarinfo } from '../nix/index.js';

/** At most this many skipped entries are listed in a reply (all are counted and logged). */
const MAX_SKIPPED_LISTED = 100;

/**
 * Jobs held back while a folder's listing runs (the walk goes on meanwhile, raising the
 * listing's budget), past which they are enqueued with what the listing knows so far; and
 * narinfos held back until the end of their folder (after their NARs), past which they are
 * enqueued anyway.
 */
const MAX_HELD_JOBS = 10_000;

/** Narinfos read at once to find the NAR each waits for. */
const ORDER_READS_IN_FLIGHT = 32;

interface ResolvedItem extends SyncItem {
  /** Real path of `from`. */
  root: string;
  isDirectory: boolean;
  size: number;
}

export interface Publisher {
  publish(body: unknown): Promise<PublishSummary>;
}

type QueuedJob = { name: string; data: FileSyncJobData; opts: JobsOptions };
type PublisherDeps = { sink: JobSink; batches: BatchLedger; log: Logger; bucket?: BucketView };

/** Options are read once per publish: a reloaded config applies to the next one. */
export function createPublisher(deps: PublisherDeps, settings: Setting<PublisherOptions>): Publisher {
  return {
    publish: (body) => publishOnce(deps, readSetting(settings), body),
  };
}

async function publishOnce(deps: PublisherDeps, options: PublisherOptions, body: unknown): Promise<PublishSummary> {
  const chunkSize = options.chunkSize ?? 1000;
  const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 15_000;
  const orderNix = options.orderNix ?? true;
  const { sink, batches, log, bucket = {} } = deps;

  async function resolveItem(item: SyncItem, index: number): Promise<ResolvedItem> {
    let root: string;
    try {
      root = await realpath(item.from);
    } catch {
      throw errors.sourceNotFound(item.from, index);
    }
    if (!options.roots.allows(root)) throw errors.sourceNotAllowed(item.from, index);
    const info = await stat(root);
    if (info.isDirectory()) {
      if (!(await hasAnyFile(root))) throw errors.directoryEmpty(item.from);
      return { ...item, root, isDirectory: true, size: 0 };
    }
    if (!info.isFile()) throw errors.invalidItem(`'from' is neither a file nor a directory for item ${index}: ${item.from}`);
    return { ...item, root, isDirectory: false, size: info.size };
  }

  async function flush(chunk: QueuedJob[], totals: SealTotals): Promise<void> {
    if (chunk.length === 0) return;
    try {
      await withTimeout(sink.addBulk(chunk), enqueueTimeoutMs);
    } catch (error) {
      log.error({ err: error }, 'enqueue failed');
      throw errors.queueUnavailable();
    }
    for (const { data } of chunk) {
      totals.total += 1;
      totals.items[data.item_index!] = (totals.items[data.item_index!] ?? 0) + 1;
      if (data.wait_for_key !== undefined) totals.after += 1;
      if (data.wait_for_batch === true) totals.last += 1;
    }
  }

  /** Whether a listing showing the same size is enough to leave the file out (the worker would skip it without more checks). */
  function skipsOnListedSize(data: FileSyncJobData): boolean {
    if (data.overwrite || data.delete_after_sync || options.compare === 'checksum') return false;
    return !(options.validateNarinfo === true && isNarinfo(data.s3_key));
  }

  /**
   * Sorts out a run of one item's files with what its listing knows: files the bucket
   * holds with the same size are left out (recorded first, so narinfos waiting on them go
   * ahead), the others carry the listed size for their worker. Files ordered after others
   * (narinfos, `nix-cache-info`) are put in `later`, to be enqueued after what they wait
   * for: a worker meeting a narinfo before its NAR only parks it again. The rest is enqueued.
   */
  async function enqueue(
    item: ResolvedItem,
    jobs: FileSyncJobData[],
    listing: PrefixListing | undefined,
    later: QueuedJob[],
    totals: SealTotals,
    batchId: string,
  ): Promise<void> {
    const present: FileSyncJobData[] = [];
    const kept: FileSyncJobData[] = [];
    for (const data of jobs) {
      const listed = listing?.sizeOf(data.s3_key);
      if (listed !== undefined) {
        if (listed === data.size && skipsOnListedSize(data)) {
          present.push(data);
          continue;
        }
        data.listed_size = listed;
      }
      kept.push(data);
    }
    // Narinfos are read only now, so one the bucket already holds is never opened; a few
    // at a time, which overlap when the disk is slow (quick-fs.ts reads them in line while
    // it is fast).
    if (orderNix) {
      for (let start = 0; start < kept.length; start += ORDER_READS_IN_FLIGHT) {
        const slice = kept.slice(start, start + ORDER_READS_IN_FLIGHT);
        const orders = await Promise.all(
          slice.map((data) =>
            item.isDirectory ? nixOrderOfFolderFile(data.file_path, item, options.roots) : nixOrderOfSingleFile(item.root),
          ),
        );
        slice.forEach((data, index) => Object.assign(data, orders[index]));
      }
    }
    const queued: QueuedJob[] = [];
    for (const data of kept) {
      const job = { name: FILE_SYNC_SINGLE, data, opts: options.jobOptions };
      if (data.wait_for_key !== undefined || data.wait_for_batch === true) later.push(job);
      else queued.push(job);
    }
    if (present.length > 0) {
      try {
        await withTimeout(
          batches.recordPresent(
            batchId,
            present.map((data) => data.s3_key),
          ),
          enqueueTimeoutMs,
        );
      } catch (error) {
        log.error({ err: error }, 'recording files already in the bucket failed');
        throw errors.queueUnavailable();
      }
      for (const data of present) totals.present[data.item_index!] = (totals.present[data.item_index!] ?? 0) + 1;
      await bucket.notePresent?.(present.map((data) => ({ key: data.s3_key, size: data.size })));
    }
    await flushAll(queued, totals);
  }

  async function flushAll(jobs: QueuedJob[], totals: SealTotals): Promise<void> {
    // `nix-cache-info` after the narinfos.
    jobs.sort((a, b) => Number(a.data.wait_for_batch === true) - Number(b.data.wait_for_batch === true));
    for (let start = 0; start < jobs.length; start += chunkSize) await flush(jobs.slice(start, start + chunkSize), totals);
  }

  /** A listing of the item's destination, when it can spare the workers work. */
  function listingOf(item: ResolvedItem): PrefixListing | undefined {
    // One file costs one HEAD at most; `overwrite` uploads without asking anyway.
    if (!(options.listRemote ?? false) || bucket.list === undefined || !item.isDirectory || item.overwrite) return undefined;
    return startPrefixListing({ list: bucket.list, log }, folderPrefix(item.to));
  }

  async function* jobsOf(item: ResolvedItem, index: number, summary: PublishSummary): AsyncGenerator<FileSyncJobData> {
    const common = {
      delete_after_sync: item.delete_after_sync,
      overwrite: item.overwrite,
      root: item.root,
      batch_id: summary.batch_id,
      item_index: index,
    };
    const skipped = (path: string, reason: string) => {
      log.warn({ path, reason }, 'entry skipped');
      summary.skipped_count += 1;
      if (summary.skipped.length < MAX_SKIPPED_LISTED) summary.skipped.push({ path, reason });
    };
    if (!item.isDirectory) {
      yield { file_path: item.root, s3_key: keyForSingleFile(item.to, item.root), size: item.size, ...common };
      return;
    }
    const allows = options.roots.restricted ? (path: string) => options.roots.allows(path) : undefined;
    for await (const file of walkFiles(item.root, { skipped, allows })) {
      const key = keyForFolderFile(item.to, file.relativePath);
      const problem = targetProblem(key);
      if (problem !== undefined) {
        skipped(file.path, `key ${problem}`);
        continue;
      }
      yield { file_path: file.path, s3_key: key, size: file.size, ...common };
    }
  }

  return publish();

  async function publish(): Promise<PublishSummary> {
    const items = parseSyncItems(body, options.maxItems);
    const resolved: ResolvedItem[] = [];
    for (const [index, item] of items.entries()) resolved.push(await resolveItem(item, index));
    if (!sink.isReady()) throw errors.queueUnavailable();

    const summary: PublishSummary = {
      batch_id: newBatchId(),
      total_files: 0,
      present_files: 0,
      items: [],
      skipped_count: 0,
      skipped: [],
    };
    try {
      // Bounded like the enqueue: a Redis that accepts but never answers gets a 503, not a hang.
      await withTimeout(batches.create(summary.batch_id, resolved), enqueueTimeoutMs);
    } catch (error) {
      log.error({ err: error }, 'batch creation failed');
      throw errors.queueUnavailable();
    }
    // Counts of what is really in the queue, so a publish cut short still seals exactly.
    const totals: SealTotals = {
      total: 0,
      after: 0,
      last: 0,
      skippedEntries: 0,
      items: resolved.map(() => 0),
      present: resolved.map(() => 0),
    };
    try {
      for (const [index, item] of resolved.entries()) {
        const published: PublishedItem = { from: item.from, to: item.to, total_files: 0 };
        summary.items.push(published);
        const listing = listingOf(item);
        const later: QueuedJob[] = [];
        try {
          let held: FileSyncJobData[] = [];
          for await (const data of jobsOf(item, index, summary)) {
            held.push(data);
            published.total_files += 1;
            listing?.found();
            // While the listing runs, the walk goes on (up to a bound) instead of enqueuing blind.
            if (held.length >= chunkSize && (listing === undefined || listing.settled || held.length >= MAX_HELD_JOBS)) {
              await enqueue(item, held, listing, later, totals, summary.batch_id);
              held = [];
              if (later.length >= MAX_HELD_JOBS) await flushAll(later.splice(0), totals);
            }
          }
          listing?.finish();
          // A bucket slow to list never holds a publish up for long: past the bound, the
          // files go with what the listing knew (their workers ask for the rest).
          if (listing !== undefined && !(await settlesWithin(listing.whenSettled(), options.listingWaitMs ?? 10_000))) {
            log.warn({ prefix: folderPrefix(item.to) }, 'bucket listing too slow: enqueuing without it');
            listing.cancel();
          }
          await enqueue(item, held, listing, later, totals, summary.batch_id);
          await flushAll(later.splice(0), totals);
        } finally {
          listing?.cancel();
        }
      }
      summary.present_files = totals.present.reduce((sum, count) => sum + count, 0);
      summary.total_files = totals.total + summary.present_files;
      totals.skippedEntries = summary.skipped_count;
      await sealBatch(summary.batch_id, totals);
    } catch (error) {
      log.error({ err: error, enqueued: totals.total, batch_id: summary.batch_id }, 'publish interrupted');
      // The jobs already queued will run: seal with them, so the batch still completes.
      totals.skippedEntries = summary.skipped_count;
      await sealBatch(summary.batch_id, totals).catch(() => undefined);
      if (error instanceof AppError) throw error;
      throw errors.badRequest(`cannot read source: ${(error as Error).message}`);
    }
    log.info(
      { items: resolved.length, total_files: summary.total_files, present_files: summary.present_files, batch_id: summary.batch_id },
      'publish enqueued',
    );
    return summary;
  }

  async function sealBatch(id: string, totals: SealTotals): Promise<void> {
    try {
      await withTimeout(batches.seal(id, totals), enqueueTimeoutMs);
    } catch (error) {
      log.error({ err: error, batch_id: id }, 'batch seal failed');
      throw errors.queueUnavailable();
    }
  }
}
