import { isAbsolute } from 'node:path';
import type { FileSyncJobData } from '../queue/index.js';
import { keyDefect } from '../storage/index.js';
import { isBatchId } from '../batches/index.js';

/**
 * Why a job's data cannot be processed, or undefined. Jobs can come from anything that
 * writes to Redis (the UI's add/edit actions included), so the worker checks every one.
 */
export function jobDataProblem(data: Partial<FileSyncJobData> | undefined): string | undefined {
  if (typeof data !== 'object' || data === null) return 'not an object';
  if (typeof data.file_path !== 'string' || !isAbsolute(data.file_path)) return 'file_path must be an absolute path';
  if (typeof data.s3_key !== 'string' || data.s3_key === '' || data.s3_key.startsWith('/')) return 's3_key must be a relative key';
  const goKey = (data as { target_path?: unknown }).target_path;
  if (goKey !== undefined && goKey !== data.s3_key) return "target_path (the Go daemon's name for s3_key) names another key than s3_key";
  const keyProblem = keyDefect(data.s3_key);
  if (keyProblem !== undefined) return `s3_key ${keyProblem}`;
  if (typeof data.root !== 'string' || !isAbsolute(data.root)) return 'root must be an absolute path';
  if (data.file_path !== data.root && !data.file_path.startsWith(data.root.endsWith('/') ? data.root : `${data.root}/`)) {
    return 'file_path must lie inside root';
  }
  if (typeof data.size !== 'number' || data.size < 0) return 'size must be a number';
  if (typeof data.delete_after_sync !== 'boolean' || typeof data.overwrite !== 'boolean')
    return 'delete_after_sync and overwrite must be booleans';
  if (data.batch_id !== undefined && !isBatchId(data.batch_id)) return 'batch_id must be a batch id';
  if (data.item_index !== undefined && !(Number.isInteger(data.item_index) && data.item_index >= 0))
    return 'item_index must be a whole number';
  if (data.wait_for_key !== undefined && (typeof data.wait_for_key !== 'string' || keyDefect(data.wait_for_key) !== undefined))
    return 'wait_for_key must be a valid key';
  if (data.wait_for_batch !== undefined && typeof data.wait_for_batch !== 'boolean') return 'wait_for_batch must be a boolean';
  return undefined;
}
