import { realpath, stat } from 'node:fs/promises';
import type { RootPolicy } from '../publish/roots.js';
import type { Logger } from '../log/index.js';
import type { ExistenceRecorder } from '../check/index.js';
import type { FileSyncJobData, FileSyncResult } from '../queue/index.js';
import { IntegrityError, UnprovenUploadError, type Storage } from '../storage/index.js';
import { contentTypeFor } from './content-type.js';
import { deleteUploadedFile } from './cleanup.js';
import { isNarinfo, missingNarinfoFields, readNarinfo } from '../nix/index.js';
import type { SyncMetrics } from './metrics.js';
import { readSetting, type Setting } from '../setting.js';

/** A failure that retrying cannot fix (the worker fails the job without further attempts). */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

export interface SyncDeps {
  storage: Pick<Storage, 'head' | 'putFile' | 'sameContent'>;
  cache: Pick<ExistenceRecorder, 'recordExists'>;
  log: Logger;
  metrics: SyncMetrics;
  /** Told about every real upload (not skips): re-arms the post-sync command. */
  onUploaded?: (key: string, size: number) => void | Promise<void>;
}

/** The seed's upload decision: overwrite forces; a missing key or a different size uploads. */
export function shouldUpload(remote: { size: number } | null, localSize: number, overwrite: boolean): boolean {
  return overwrite || remote === null || remote.size !== localSize;
}

export interface SyncOptions {
  /** `publish.compare`: skip on equal size (the seed), or only on equal content. */
  compare: 'size' | 'checksum';
  /** `publish.allowed_roots`, checked again for every job: jobs can come from anything that writes to Redis. */
  roots?: RootPolicy;
  /** `[nix] validate_narinfo`: a narinfo without the fields substituters need fails for good. */
  validateNarinfo?: boolean;
  /** `publish.list_trust_seconds`, in ms: how long a publish's listing stands in for a HEAD. */
  listingTrustMs?: number;
}

/**
 * The size the publish's listing saw for the job's key (null: absent), while the job
 * (created by that publish, at `createdAt`) is young enough for it to stand in for a HEAD;
 * undefined when there is none or it is too old.
 */
export function listedSize(
  data: FileSyncJobData,
  createdAt: number | undefined,
  trustMs: number,
  now = Date.now(),
): number | null | undefined {
  if (createdAt === undefined || now - createdAt > trustMs || now < createdAt - trustMs) return undefined;
  const size = data.listed_size;
  return size === null || (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) ? size : undefined;
}

/** What the worker knows about the job beyond its data (multipart upload bookkeeping). */
export interface JobContext {
  /** When the job was created (ms since epoch): how old its publish's listing is, about. */
  createdAt?: number | undefined;
  previousUploadId?: string | undefined;
  rememberUpload?: (uploadId: string) => Promise<void>;
}

/** Processes one `file_sync_single` job: decide, upload, verify, delete, record. Options are read once per job. */
export function createFileSync(deps: SyncDeps, settings: Setting<SyncOptions> = { compare: 'size' }) {
  const { storage, cache, log, metrics } = deps;

  async function fileState(path: string) {
    try {
      return await stat(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  return async function syncFile(data: FileSyncJobData, signal?: AbortSignal, context: JobContext = {}): Promise<FileSyncResult> {
    const started = performance.now();
    const key = data.s3_key;
    const options = readSetting(settings);
    if (options.roots?.restricted) {
      const real = await realpath(data.file_path).catch(() => undefined);
      if (real !== undefined && !options.roots.allows(real))
        throw new PermanentError(`file is outside the allowed roots: ${data.file_path}`);
    }
    const local = await fileState(data.file_path);

    if (local === undefined) {
      // A re-run after a crash may find the file already uploaded and deleted.
      const remote = await storage.head(key, { signal });
      if (remote !== null && remote.size === data.size) {
        log.info({ s3_key: key, file: data.file_path }, 'file already uploaded');
        return { outcome: 'already_present', size: remote.size, deleted: false, duration_ms: Math.round(performance.now() - started) };
      }
      throw new PermanentError(`local file is gone and the bucket does not hold it: ${data.file_path}`);
    }
    if (!local.isFile()) throw new PermanentError(`not a regular file: ${data.file_path}`);
    if (options.validateNarinfo && isNarinfo(key)) {
      const missing = missingNarinfoFields(await readNarinfo(data.file_path));
      if (missing.length > 0) throw new PermanentError(`invalid narinfo: missing ${missing.join(', ')}`);
    }

    // A fresh listing that saw the key absent, or with another size, decides like a HEAD would.
    const listed = listedSize(data, context.createdAt, options.listingTrustMs ?? 0);
    if (!data.overwrite && (listed === undefined || listed === local.size)) {
      const needContent = data.delete_after_sync || options.compare === 'checksum';
      const remote = await storage.head(key, { signal, withMd5: needContent });
      if (remote !== null && !shouldUpload(remote, local.size, false)) {
        // Same size: the seed skips. Deleting, or comparing by checksum, needs proof of
        // equal content; a size-only match is re-uploaded first.
        if (!needContent || (await storage.sameContent(remote, data.file_path))) {
          await cache.recordExists(key, local.size);
          metrics.skipped();
          const deleted = data.delete_after_sync ? await deleteLocal(data, local) : false;
          log.info({ s3_key: key, size: local.size, deleted }, 'file skipped: already in bucket');
          return { outcome: 'skipped', size: local.size, deleted, duration_ms: Math.round(performance.now() - started) };
        }
      }
    }

    const upload = await storage
      .putFile(key, data.file_path, {
        size: local.size,
        contentType: contentTypeFor(key),
        signal,
        previousUploadId: context.previousUploadId,
        onMultipartStarted: context.rememberUpload,
      })
      .catch((error: unknown) => {
        // Stored, but unprovable: uploading it again would prove no more. Fail for good, keep the file.
        if (error instanceof UnprovenUploadError) throw new PermanentError(`${error.message} (local file kept: ${data.file_path})`);
        throw error;
      });
    const after = await fileState(data.file_path);
    if (after === undefined || after.size !== local.size || after.mtimeMs !== local.mtimeMs) {
      throw new IntegrityError(`file changed during upload: ${data.file_path}`);
    }
    metrics.uploaded(local.size, performance.now() - started);
    await cache.recordExists(key, local.size);
    await deps.onUploaded?.(key, local.size);
    log.info(
      {
        s3_key: key,
        size: local.size,
        md5: upload.md5,
        multipart: upload.multipart,
        proof: upload.proof,
        duration_ms: Math.round(performance.now() - started),
      },
      'file uploaded',
    );
    const deleted = data.delete_after_sync ? await deleteLocal(data, local) : false;
    return { outcome: 'uploaded', size: local.size, deleted, duration_ms: Math.round(performance.now() - started) };
  };

  async function deleteLocal(data: FileSyncJobData, verified: { size: number; mtimeMs: number }): Promise<boolean> {
    const outcome = await deleteUploadedFile(data.file_path, data.root, verified);
    if (outcome === 'deleted') return true;
    const level = outcome === 'gone' ? 'info' : 'warn';
    log[level]({ file: data.file_path, s3_key: data.s3_key, reason: outcome }, 'local file kept');
    return false;
  }
}

export type FileSync = ReturnType<typeof createFileSync>;
