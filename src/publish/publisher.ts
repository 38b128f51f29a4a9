import { realpath, stat } from 'node:fs/promises';
import type { JobsOptions } from 'bullmq';
import type { Logger } from '../log/index.js';
import { errors, AppError } from '../errors.js';
import { FILE_SYNC_SINGLE, type FileSyncJobData } from '../queue/index.js';
import { parseSyncItems, type SyncItem } from './items.js';
import { keyForFolderFile, keyForSingleFile, targetProblem } from './keys.js';
import type { RootPolicy } from './roots.js';
import { hasAnyFile, walkFiles } from './walk.js';
import { readSetting, type Setting } from '../setting.js';

/** The part of a BullMQ queue the publisher uses. */
export interface JobSink {
  /** Whether Redis is reachable right now (checked before a publish starts). */
  isReady(): boolean;
  addBulk(jobs: Array<{ name: string; data: FileSyncJobData; opts?: JobsOptions }>): Promise<unknown>;
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

/** At most this many skipped entries are listed in a reply (all are counted and logged). */
const MAX_SKIPPED_LISTED = 100;

export interface PublishSummary {
  total_files: number;
  items: PublishedItem[];
  skipped_count: number;
  skipped: SkippedEntry[];
}

interface ResolvedItem extends SyncItem {
  /** Real path of `from`. */
  root: string;
  isDirectory: boolean;
  size: number;
}

export interface Publisher {
  publish(body: unknown): Promise<PublishSummary>;
}

/** Options are read once per publish: a reload applies to the next one. */
export function createPublisher(deps: { sink: JobSink; log: Logger }, settings: Setting<PublisherOptions>): Publisher {
  const { sink, log } = deps;

  async function resolveItem(item: SyncItem, index: number, options: PublisherOptions): Promise<ResolvedItem> {
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

  async function flush(chunk: Array<{ name: string; data: FileSyncJobData; opts: JobsOptions }>, enqueueTimeoutMs: number): Promise<void> {
    if (chunk.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('enqueue timed out')), enqueueTimeoutMs);
    });
    try {
      await Promise.race([sink.addBulk(chunk), timeout]);
    } catch (error) {
      log.error({ err: error }, 'enqueue failed');
      throw errors.queueUnavailable();
    } finally {
      clearTimeout(timer);
    }
  }

  async function* jobsOf(item: ResolvedItem, summary: PublishSummary, options: PublisherOptions): AsyncGenerator<FileSyncJobData> {
    const common = { delete_after_sync: item.delete_after_sync, overwrite: item.overwrite, root: item.root };
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

  return {
    async publish(body) {
      const options = readSetting(settings);
      const chunkSize = options.chunkSize ?? 1000;
      const enqueueTimeoutMs = options.enqueueTimeoutMs ?? 15_000;
      const items = parseSyncItems(body, options.maxItems);
      const resolved: ResolvedItem[] = [];
      for (const [index, item] of items.entries()) resolved.push(await resolveItem(item, index, options));
      if (!sink.isReady()) throw errors.queueUnavailable();

      const summary: PublishSummary = { total_files: 0, items: [], skipped_count: 0, skipped: [] };
      let chunk: Array<{ name: string; data: FileSyncJobData; opts: JobsOptions }> = [];
      try {
        for (const item of resolved) {
          const published: PublishedItem = { from: item.from, to: item.to, total_files: 0 };
          summary.items.push(published);
          for await (const data of jobsOf(item, summary, options)) {
            chunk.push({ name: FILE_SYNC_SINGLE, data, opts: options.jobOptions });
            published.total_files += 1;
            if (chunk.length >= chunkSize) {
              await flush(chunk, enqueueTimeoutMs);
              summary.total_files += chunk.length;
              chunk = [];
            }
          }
        }
        await flush(chunk, enqueueTimeoutMs);
        summary.total_files += chunk.length;
      } catch (error) {
        log.error({ err: error, enqueued: summary.total_files }, 'publish interrupted');
        if (error instanceof AppError) throw error;
        throw errors.badRequest(`cannot read source: ${(error as Error).message}`);
      }
      log.info({ items: resolved.length, total_files: summary.total_files }, 'publish enqueued');
      return summary;
    },
  };
}
