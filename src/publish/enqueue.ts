/**
 * Stage 4 of a publish (publisher.ts): a run of one item's files sorted out with what the
 * bucket's listing knows, narinfos read for their order, `unique` keys claimed, and the jobs
 * enqueued in chunks of one pipelined `addBulk`.
 */
import { withTimeout } from '../timeout.js';
import { FILE_SYNC_SINGLE, type FileSyncJobData } from '../queue/index.js';
import { errors } from '../errors.js';
import { isNarinfo } from '../nix/index.js';
import type { PrefixListing } from './listing.js';
import type { PublisherOptions } from './types.js';
import { nixOrderOfFolderFile, nixOrderOfSingleFile } from './nix-order.js';
import { sortUniqueJobs, type UniqueSorting } from './unique.js';
import { MAX_SKIPPED_LISTED, type PublishRun, type QueuedJob, type ResolvedItem } from './run.js';

/** Narinfos read at once to find the NAR each waits for. */
const ORDER_READS_IN_FLIGHT = 32;

/** Whether a listing showing the same size is enough to leave the file out (the worker would skip it without more checks). */
function skipsOnListedSize(options: PublisherOptions, data: FileSyncJobData): boolean {
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
export async function enqueue(
  run: PublishRun,
  item: ResolvedItem,
  jobs: FileSyncJobData[],
  listing: PrefixListing | undefined,
  later: QueuedJob[],
): Promise<void> {
  const { options } = run;
  const present: FileSyncJobData[] = [];
  const kept: FileSyncJobData[] = [];
  for (const data of jobs) {
    const listed = listing?.sizeOf(data.s3_key);
    if (listed !== undefined) {
      if (listed === data.size && skipsOnListedSize(options, data)) {
        present.push(data);
        continue;
      }
      data.listed_size = listed;
    }
    kept.push(data);
  }
  if (run.orderNix) await readNixOrder(run, item, kept);
  const queued: QueuedJob[] = [];
  for (const data of kept) {
    const job = { name: FILE_SYNC_SINGLE, data, opts: options.jobOptions };
    if (data.wait_for_key !== undefined || data.wait_for_batch === true) later.push(job);
    else queued.push(job);
  }
  await recordPresent(run, present);
  await flushAll(run, queued);
}

/**
 * Narinfos are read only now, so one the bucket already holds is never opened; a few at a
 * time, which overlap when the disk is slow (quick-fs.ts reads them in line while it is fast).
 */
async function readNixOrder(run: PublishRun, item: ResolvedItem, kept: FileSyncJobData[]): Promise<void> {
  const { roots } = run.options;
  for (let start = 0; start < kept.length; start += ORDER_READS_IN_FLIGHT) {
    const slice = kept.slice(start, start + ORDER_READS_IN_FLIGHT);
    const orders = await Promise.all(
      slice.map((data) => (item.isDirectory ? nixOrderOfFolderFile(data.file_path, item, roots) : nixOrderOfSingleFile(item.root))),
    );
    slice.forEach((data, index) => Object.assign(data, orders[index]));
  }
}

/** Files found in the bucket with the same size: recorded in the batch, not enqueued. */
async function recordPresent(run: PublishRun, present: FileSyncJobData[]): Promise<void> {
  if (present.length === 0) return;
  const { batches, bucket, log } = run.deps;
  try {
    await withTimeout(
      batches.recordPresent(
        run.summary.batch_id,
        present.map((data) => data.s3_key),
      ),
      run.enqueueTimeoutMs,
    );
  } catch (error) {
    log.error({ err: error }, 'recording files already in the bucket failed');
    throw errors.queueUnavailable();
  }
  const counts = run.totals.present;
  for (const data of present) counts[data.item_index!] = (counts[data.item_index!] ?? 0) + 1;
  await bucket.notePresent?.(present.map((data) => ({ key: data.s3_key, size: data.size })));
}

export async function flushAll(run: PublishRun, jobs: QueuedJob[]): Promise<void> {
  // `nix-cache-info` after the narinfos.
  jobs.sort((a, b) => Number(a.data.wait_for_batch === true) - Number(b.data.wait_for_batch === true));
  for (let start = 0; start < jobs.length; start += run.chunkSize) await flush(run, jobs.slice(start, start + run.chunkSize));
}

/** One chunk, one pipelined `addBulk`; the totals count only what Redis took. */
async function flush(run: PublishRun, chunk: QueuedJob[]): Promise<void> {
  if (chunk.length === 0) return;
  const { totals } = run;
  const { kept, claimed } = await claimUniqueKeys(run, chunk);
  try {
    if (kept.length > 0) await withTimeout(run.deps.sink.addBulk(kept), run.enqueueTimeoutMs);
  } catch (error) {
    run.deps.log.error({ err: error }, 'enqueue failed');
    await run.deps.unique?.release(run.summary.batch_id, claimed).catch(() => undefined);
    throw errors.queueUnavailable();
  }
  for (const { data } of kept) {
    totals.total += 1;
    totals.items[data.item_index!] = (totals.items[data.item_index!] ?? 0) + 1;
    if (data.wait_for_key !== undefined) totals.after += 1;
    if (data.wait_for_batch === true) totals.last += 1;
  }
}

/** The chunk without the jobs `unique` leaves out, which are counted as skipped (see `duplicates`). */
async function claimUniqueKeys(run: PublishRun, chunk: QueuedJob[]): Promise<{ kept: QueuedJob[]; claimed: string[] }> {
  let sorted: UniqueSorting<QueuedJob>;
  try {
    sorted = await withTimeout(sortUniqueJobs(run.deps.unique, chunk), run.enqueueTimeoutMs);
  } catch (error) {
    run.deps.log.error({ err: error }, 'unique keys could not be claimed');
    throw errors.queueUnavailable();
  }
  const { totals, duplicates } = run;
  for (const { data } of sorted.duplicates) {
    totals.present[data.item_index!] = (totals.present[data.item_index!] ?? 0) + 1;
    duplicates.count += 1;
    const reason = `unique: a task for ${data.s3_key} is already queued, running or finished within 24 h`;
    if (duplicates.listed.length < MAX_SKIPPED_LISTED) duplicates.listed.push({ path: data.file_path, reason });
  }
  return sorted;
}
