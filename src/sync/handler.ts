import type { RootPolicy } from '../publish/roots.js';
import type { Logger } from '../log/index.js';
import type { ExistenceRecorder } from '../check/index.js';
import type { FileSyncJobData, FileSyncResult } from '../queue/index.js';
import { IntegrityError, UnprovenUploadError, type Pacing, type Storage } from '../storage/index.js';
import { contentTypeFor } from './content-type.js';
import { deleteUploadedFile } from './cleanup.js';
import { isNarinfo, missingNarinfoFields, readNarinfoFrom } from '../nix/index.js';
import { PermanentError } from './permanent.js';
import { openSourceFile, type SourceFile } from './source-file.js';
import type { SyncMetrics } from './metrics.js';
import { readSetting, type Setting } from '../setting.js';

export { PermanentError };

export interface SyncDeps {
  storage: Pick<Storage, 'head' | 'putFile' | 'sameContent' | 'remove'>;
  cache: Pick<ExistenceRecorder, 'recordExists'>;
  log: Logger;
  metrics: SyncMetrics;
  /** Told about every real upload (not skips): re-arms the post-sync command. */
  onUploaded?: (key: string, size: number) => void | Promise<void>;
  /** The daemon's upload throttle (bandwidth cap, request rate, throttling answers): every storage call of a job goes through it. */
  pacing?: Pacing;
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
  /** `publish.max_file_bytes`: larger files fail for good (undefined: no limit). */
  maxFileBytes?: number | undefined;
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

  return async function syncFile(data: FileSyncJobData, signal?: AbortSignal, context: JobContext = {}): Promise<FileSyncResult> {
    const started = performance.now();
    const key = data.s3_key;
    const options = readSetting(settings);
    // Opened once: the checks below and the upload all read this descriptor, never the path again.
    const file = await openSourceFile(data.file_path, options.roots);
    if (file === undefined) {
      // A re-run after a crash may find the file already uploaded and deleted.
      const remote = await storage.head(key, { signal, pacing: deps.pacing });
      if (remote !== null && remote.size === data.size) {
        log.info({ s3_key: key, file: data.file_path }, 'file already uploaded');
        return { outcome: 'already_present', size: remote.size, deleted: false, duration_ms: Math.round(performance.now() - started) };
      }
      throw new PermanentError(`local file is gone and the bucket does not hold it: ${data.file_path}`);
    }
    try {
      return await syncOpenFile(data, file, options, started, signal, context);
    } finally {
      await file.close();
    }
  };

  async function syncOpenFile(
    data: FileSyncJobData,
    file: SourceFile,
    options: SyncOptions,
    started: number,
    signal: AbortSignal | undefined,
    context: JobContext,
  ): Promise<FileSyncResult> {
    const key = data.s3_key;
    const local = file.info;
    if (options.maxFileBytes !== undefined && local.size > options.maxFileBytes) {
      throw new PermanentError(`larger than publish.max_file_bytes (${local.size} > ${options.maxFileBytes}): ${data.file_path}`);
    }
    if (options.validateNarinfo && isNarinfo(key)) {
      const missing = missingNarinfoFields(await readNarinfoFrom(file.handle));
      if (missing.length > 0) throw new PermanentError(`invalid narinfo: missing ${missing.join(', ')}`);
    }

    // A fresh listing that saw the key absent, or with another size, decides like a HEAD would.
    const listed = listedSize(data, context.createdAt, options.listingTrustMs ?? 0);
    let absent = listed === null;
    if (!data.overwrite && (listed === undefined || listed === local.size)) {
      const needContent = data.delete_after_sync || options.compare === 'checksum';
      const remote = await storage.head(key, { signal, withMd5: needContent, pacing: deps.pacing });
      absent = remote === null;
      if (remote !== null && !shouldUpload(remote, local.size, false)) {
        // Same size: the seed skips. Deleting, or comparing by checksum, needs proof of
        // equal content; a size-only match is re-uploaded first.
        if (!needContent || (await storage.sameContent(remote, file))) {
          await cache.recordExists(key, local.size);
          metrics.skipped();
          const deleted = data.delete_after_sync ? await deleteLocal(data, file) : false;
          log.info({ s3_key: key, size: local.size, deleted }, 'file skipped: already in bucket');
          return { outcome: 'skipped', size: local.size, deleted, duration_ms: Math.round(performance.now() - started) };
        }
      }
    }

    const upload = await storage
      .putFile(key, file, {
        size: local.size,
        contentType: contentTypeFor(key),
        signal,
        previousUploadId: context.previousUploadId,
        onMultipartStarted: context.rememberUpload,
        pacing: deps.pacing,
      })
      .catch((error: unknown) => {
        // Stored, but unprovable: uploading it again would prove no more. Fail for good, keep the file.
        if (error instanceof UnprovenUploadError) throw new PermanentError(`${error.message} (local file kept: ${data.file_path})`);
        throw error;
      });
    const after = await file.now();
    if (after.size !== local.size || after.mtimeMs !== local.mtimeMs) {
      await removeTorn(key, absent, data.file_path);
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
    const deleted = data.delete_after_sync ? await deleteLocal(data, file) : false;
    return { outcome: 'uploaded', size: local.size, deleted, duration_ms: Math.round(performance.now() - started) };
  }

  /**
   * The file changed while it was uploaded: the object may mix old and new bytes. It is
   * removed when the key was absent before (a HEAD or a fresh listing said so); otherwise
   * an earlier copy was overwritten and removing would leave nothing, so it stays until
   * the job's retry uploads the file again (docs/uploads.md).
   */
  async function removeTorn(key: string, absent: boolean, path: string): Promise<void> {
    if (!absent || storage.remove === undefined) {
      log.warn({ s3_key: key, file: path }, 'file changed during upload: object kept until the retry replaces it');
      return;
    }
    try {
      await storage.remove(key);
      log.warn({ s3_key: key, file: path }, 'file changed during upload: object removed');
    } catch (error) {
      log.error({ err: error, s3_key: key, file: path }, 'file changed during upload: removing the object failed');
    }
  }

  async function deleteLocal(data: FileSyncJobData, file: SourceFile): Promise<boolean> {
    const outcome = await deleteUploadedFile(data.file_path, data.root, file.info);
    if (outcome === 'deleted') return true;
    const level = outcome === 'gone' ? 'info' : 'warn';
    log[level]({ file: data.file_path, s3_key: data.s3_key, reason: outcome }, 'local file kept');
    return false;
  }
}

export type FileSync = ReturnType<typeof createFileSync>;
