/** Names and payloads shared by the publisher and the workers. */

/** BullMQ queue holding one job per file to upload. */
export const UPLOAD_QUEUE = 'uploads';

/** Job name, as the seed's Asynq task type. */
export const FILE_SYNC_SINGLE = 'file_sync_single';

/**
 * Payload of a `file_sync_single` job: the seed's four fields, plus what the worker needs
 * to act safely.
 */
export interface FileSyncJobData {
  /** Local path of the file (inside a published folder: the path below its real root; a symlink stays a symlink). */
  file_path: string;
  /** Target key in the bucket. */
  s3_key: string;
  delete_after_sync: boolean;
  overwrite: boolean;
  /** Real path of the published folder (or file): deletion and cleanup never leave it. */
  root: string;
  /** Size seen when the file was published. */
  size: number;
  /** Set while a multipart upload of this job is open, so a restarted job can abort it. */
  multipart_upload_id?: string;
  /** Batch (one `POST /publish`) this job belongs to; jobs from elsewhere have none. */
  batch_id?: string;
  /** Index of the request item that produced this job. */
  item_index?: number;
  /** Published with `"unique": true`: the job holds its key's claim (`publish/unique.ts`), which follows its outcome. */
  unique?: boolean;
  /** Nix ordering: upload only once this key of the same batch is in the bucket (a narinfo's NAR). */
  wait_for_key?: string;
  /** Nix ordering: upload only after every other file of the batch (`nix-cache-info`). */
  wait_for_batch?: boolean;
  /**
   * What the publish's listing of the bucket said of `s3_key`: its size, or null when
   * absent. Missing when not listed. Lets the worker skip its HEAD while the job is young
   * (the listing ran during the publish that created the job).
   */
  listed_size?: number | null;
}

/** What a finished job returns (kept on the completed job, shown in the UI). */
export interface FileSyncResult {
  outcome: 'uploaded' | 'skipped' | 'already_present';
  size: number;
  deleted: boolean;
  duration_ms: number;
}
