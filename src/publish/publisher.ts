import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errors, AppError } from '../errors.js';
import { readSetting, type Setting } from '../setting.js';
import { settlesWithin, withTimeout } from '../timeout.js';
import type { FileSyncJobData } from '../queue/index.js';
import { newBatchId } from '../batches/index.js';
import { parseSyncItems, type SyncItem } from './items.js';
import { folderPrefix, keyForFolderFile, keyForSingleFile, targetProblem } from './keys.js';
import { hasAnyFile, walkFiles } from './walk.js';
import { startPrefixListing, type PrefixListing } from './listing.js';
import type { PublishedItem, PublisherOptions, PublishSummary } from './types.js';
import { enqueue, flushAll } from './enqueue.js';
import { MAX_SKIPPED_LISTED, type PublishRun, type PublisherDeps, type QueuedJob, type ResolvedItem, type RunDeps } from './run.js';

/**
 * Jobs held back while a folder's listing runs (the walk goes on meanwhile, raising the
 * listing's budget), past which they are enqueued with what the listing knows so far; and
 * narinfos held back until the end of their folder (after their NARs), past which they are
 * enqueued anyway.
 */
const MAX_HELD_JOBS = 10_000;

export interface Publisher {
  publish(body: unknown): Promise<PublishSummary>;
}

/** Options are read once per publish: a reloaded config applies to the next one. */
export function createPublisher(deps: PublisherDeps, settings: Setting<PublisherOptions>): Publisher {
  return {
    publish: (body) => publishOnce(deps, readSetting(settings), body),
  };
}

/** The stages of a publish: resolve the items, open the batch, walk and enqueue each item in chunks, seal. */
async function publishOnce(deps: PublisherDeps, options: PublisherOptions, body: unknown): Promise<PublishSummary> {
  const items = parseSyncItems(body, options.maxItems);
  const resolved = await resolveItems(items, options);
  if (!deps.sink.isReady()) throw errors.queueUnavailable();
  const run = await openBatch({ ...deps, bucket: deps.bucket ?? {} }, options, resolved);
  try {
    for (const [index, item] of resolved.entries()) await publishItem(run, item, index);
    await sealBatch(run);
  } catch (error) {
    throw await sealInterrupted(run, error);
  }
  const { summary } = run;
  deps.log.info(
    { items: resolved.length, total_files: summary.total_files, present_files: summary.present_files, batch_id: summary.batch_id },
    'publish enqueued',
  );
  return summary;
}

// --- Stage 1: resolve the items -------------------------------------------------------

/** Every item resolved before anything is enqueued: one bad item refuses the whole publish. */
async function resolveItems(items: SyncItem[], options: PublisherOptions): Promise<ResolvedItem[]> {
  const resolved: ResolvedItem[] = [];
  for (const [index, item] of items.entries()) resolved.push(await resolveItem(item, index, options));
  return resolved;
}

async function resolveItem(item: SyncItem, index: number, options: PublisherOptions): Promise<ResolvedItem> {
  let root: string;
  try {
    root = await realpath(item.from);
  } catch {
    // Outside the roots, a missing path answers as an existing one does: no existence oracle.
    if (!options.roots.allows(await realpathOfNearest(item.from))) throw errors.sourceNotAllowed(item.from, index);
    throw errors.sourceNotFound(item.from, index);
  }
  if (!options.roots.allows(root)) throw errors.sourceNotAllowed(item.from, index);
  const info = await stat(root);
  if (info.isDirectory()) {
    if (!(await hasAnyFile(root))) throw errors.directoryEmpty(item.from);
    return { ...item, root, isDirectory: true, size: 0 };
  }
  if (!info.isFile()) throw errors.invalidItem(`'from' is neither a file nor a directory for item ${index}: ${item.from}`);
  // A file's name can make its key one that /check could not answer for.
  const problem = targetProblem(keyForSingleFile(item.to, root));
  if (problem !== undefined) throw errors.invalidItem(`the file's key ${problem} for item ${index}: ${item.from}`);
  return { ...item, root, isDirectory: false, size: info.size };
}

/** The real path a path that does not exist would have: its nearest existing ancestor resolved, the rest appended. */
async function realpathOfNearest(path: string): Promise<string> {
  const missing: string[] = [];
  for (let current = resolve(path); ; current = dirname(current)) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch {
      if (dirname(current) === current) return resolve(path);
      missing.push(basename(current));
    }
  }
}

// --- Stage 2: open the batch ----------------------------------------------------------

async function openBatch(deps: RunDeps, options: PublisherOptions, resolved: ResolvedItem[]): Promise<PublishRun> {
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
    await withTimeout(deps.batches.create(summary.batch_id, resolved), options.enqueueTimeoutMs ?? 15_000);
  } catch (error) {
    deps.log.error({ err: error }, 'batch creation failed');
    throw errors.queueUnavailable();
  }
  return {
    deps,
    options,
    chunkSize: options.chunkSize ?? 1000,
    enqueueTimeoutMs: options.enqueueTimeoutMs ?? 15_000,
    orderNix: options.orderNix ?? true,
    summary,
    totals: { total: 0, after: 0, last: 0, skippedEntries: 0, items: resolved.map(() => 0), present: resolved.map(() => 0) },
    duplicates: { count: 0, listed: [] },
  };
}

// --- Stage 3: walk and plan each item --------------------------------------------------

/** Walks one item, holding its jobs while its listing runs, and enqueues them in chunks. */
async function publishItem(run: PublishRun, item: ResolvedItem, index: number): Promise<void> {
  const { chunkSize, summary } = run;
  const published: PublishedItem = { from: item.from, to: item.to, total_files: 0 };
  summary.items.push(published);
  const listing = listingOf(run, item);
  const later: QueuedJob[] = [];
  try {
    let held: FileSyncJobData[] = [];
    for await (const data of jobsOf(run, item, index)) {
      held.push(data);
      published.total_files += 1;
      listing?.found();
      // While the listing runs, the walk goes on (up to a bound) instead of enqueuing blind.
      if (held.length >= chunkSize && (listing === undefined || listing.settled || held.length >= MAX_HELD_JOBS)) {
        await enqueue(run, item, held, listing, later);
        held = [];
        if (later.length >= MAX_HELD_JOBS) await flushAll(run, later.splice(0));
      }
    }
    listing?.finish();
    // A bucket slow to list never holds a publish up for long: past the bound, the
    // files go with what the listing knew (their workers ask for the rest).
    if (listing !== undefined && !(await settlesWithin(listing.whenSettled(), run.options.listingWaitMs ?? 10_000))) {
      run.deps.log.warn({ prefix: folderPrefix(item.to) }, 'bucket listing too slow: enqueuing without it');
      listing.cancel();
    }
    await enqueue(run, item, held, listing, later);
    await flushAll(run, later.splice(0));
  } finally {
    listing?.cancel();
  }
}

/** A listing of the item's destination, when it can spare the workers work. */
function listingOf(run: PublishRun, item: ResolvedItem): PrefixListing | undefined {
  const { bucket, log } = run.deps;
  // One file costs one HEAD at most; `overwrite` uploads without asking anyway.
  if (!(run.options.listRemote ?? false) || bucket.list === undefined || !item.isDirectory || item.overwrite) return undefined;
  return startPrefixListing({ list: bucket.list, log }, folderPrefix(item.to));
}

/** The item's files as jobs; entries passed over are counted, listed and logged. */
async function* jobsOf(run: PublishRun, item: ResolvedItem, index: number): AsyncGenerator<FileSyncJobData> {
  const { summary, options } = run;
  const common = {
    delete_after_sync: item.delete_after_sync,
    overwrite: item.overwrite,
    ...(item.unique ? { unique: true } : {}),
    root: item.root,
    batch_id: summary.batch_id,
    item_index: index,
  };
  const skipped = (path: string, reason: string) => noteSkipped(run, path, reason);
  const tooLarge = (path: string, size: number) => {
    const max = options.maxFileBytes;
    if (max === undefined || size <= max) return false;
    skipped(path, `larger than publish.max_file_bytes (${size} > ${max})`);
    return true;
  };
  if (!item.isDirectory) {
    if (tooLarge(item.root, item.size)) return;
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
    if (tooLarge(file.path, file.size)) continue;
    yield { file_path: file.path, s3_key: key, size: file.size, ...common };
  }
}

function noteSkipped(run: PublishRun, path: string, reason: string): void {
  const { summary } = run;
  run.deps.log.warn({ path, reason }, 'entry skipped');
  summary.skipped_count += 1;
  if (summary.skipped.length < MAX_SKIPPED_LISTED) summary.skipped.push({ path, reason });
}

// --- Stage 4: enqueue in chunks: enqueue.ts ----------------------------------------------

// --- Stage 5: seal the batch -------------------------------------------------------------

async function sealBatch(run: PublishRun): Promise<void> {
  const { summary, totals } = run;
  const { duplicates } = run;
  summary.present_files = totals.present.reduce((sum, count) => sum + count, 0) - duplicates.count;
  summary.total_files = totals.total + summary.present_files + duplicates.count;
  reportDuplicates(run);
  await sealWithTotals(run);
}

function reportDuplicates(run: PublishRun): void {
  const { summary, duplicates } = run;
  if (duplicates.count === 0) return;
  run.deps.log.info(
    { batch_id: summary.batch_id, skipped: duplicates.count },
    'unique: files whose key has a task already were not enqueued',
  );
  summary.skipped_count += duplicates.count;
  summary.skipped.push(...duplicates.listed.slice(0, Math.max(0, MAX_SKIPPED_LISTED - summary.skipped.length)));
}

async function sealWithTotals(run: PublishRun): Promise<void> {
  const { summary, totals } = run;
  totals.skippedEntries = summary.skipped_count;
  try {
    await withTimeout(run.deps.batches.seal(summary.batch_id, totals), run.enqueueTimeoutMs);
  } catch (error) {
    run.deps.log.error({ err: error, batch_id: summary.batch_id }, 'batch seal failed');
    throw errors.queueUnavailable();
  }
}

/**
 * A publish cut short: the jobs already queued will run, so the batch is sealed with them
 * and still completes. Returns the error to answer with.
 */
async function sealInterrupted(run: PublishRun, error: unknown): Promise<Error> {
  const { summary, totals } = run;
  run.deps.log.error({ err: error, enqueued: totals.total, batch_id: summary.batch_id }, 'publish interrupted');
  await sealWithTotals(run).catch(() => undefined);
  if (error instanceof AppError) return error;
  return errors.badRequest(`cannot read source: ${(error as Error).message}`);
}
