import { stat } from 'node:fs/promises';

/**
 * The job data the worker runs, completed from what the Go daemon's `file_sync_single`
 * task carries: `{file_path, target_path | s3_key, delete_after_sync?, overwrite?,
 * unique?}` (its booleans are `omitempty`). Such jobs come from a Go publisher still
 * writing to the same queue, a script, or the queue UI. Missing fields are derived:
 *
 * - `s3_key` from `target_path` (the Go name); both present must agree (`jobDataProblem`).
 * - `delete_after_sync`, `overwrite`: false when absent, as Go's zero value.
 * - `root`: the file itself, so a `delete_after_sync` deletes that file and never removes
 *   a folder (the Go payload does not say which folder was published).
 * - `size`: the file's size now (0 when it cannot be read: the upload then finds the file
 *   gone, and fails unless the bucket holds the key).
 *
 * Data that already has every field, or is not an object, is returned as it is; what is
 * still wrong after completion is `jobDataProblem`'s to say.
 */
export async function completeJobData(data: unknown): Promise<unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return data;
  const given = data as Record<string, unknown>;
  const filePath = given.file_path;
  const complete = ['s3_key', 'root', 'size', 'delete_after_sync', 'overwrite'].every((field) => given[field] !== undefined);
  if (complete || typeof filePath !== 'string') return data;
  return {
    ...given,
    s3_key: given.s3_key ?? given.target_path,
    delete_after_sync: given.delete_after_sync ?? false,
    overwrite: given.overwrite ?? false,
    root: given.root ?? filePath,
    size:
      given.size ??
      (await stat(filePath).then(
        (info) => info.size,
        () => 0,
      )),
  };
}
