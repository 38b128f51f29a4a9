import { lstat, realpath, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { isInsideOrEqual } from '../publish/roots.js';

/** The file that was read and verified in the bucket: which file (device, inode), and its size and mtime then. */
export interface VerifiedState {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export type DeleteOutcome = 'deleted' | 'changed' | 'outside_root' | 'gone';

/** Strictly below `root` (never `root` itself). */
function isInside(root: string, path: string): boolean {
  return path !== root && isInsideOrEqual(root, path);
}

/**
 * Deletes the local entry of an uploaded file, and only if it is still the file that was
 * read and verified (same device and inode, same size and mtime) and lies inside the
 * published root. (The check and the unlink are two calls: POSIX has no "unlink this
 * inode", so a swap in between is the one window left; it can only make the daemon delete
 * an entry of the outbox, never read one.) A symlink is removed
 * itself, never its target. Then removes the directories this left empty, up to but never
 * including the root.
 */
export async function deleteUploadedFile(filePath: string, root: string, verified: VerifiedState): Promise<DeleteOutcome> {
  let current;
  try {
    current = await stat(filePath);
    await lstat(filePath);
  } catch {
    return 'gone';
  }
  if (current.dev !== verified.dev || current.ino !== verified.ino) return 'changed';
  if (current.size !== verified.size || current.mtimeMs !== verified.mtimeMs) return 'changed';
  if (filePath === root) {
    // A single published file: delete it, and no directory cleanup.
    await unlink(filePath);
    return 'deleted';
  }
  // The entry's directory, resolved, must still lie in the root: a file reached through a
  // symlinked directory lives elsewhere, and deleting it would reach outside the publish.
  const realDirectory = await realpath(dirname(filePath));
  if (realDirectory !== root && !isInside(root, realDirectory)) return 'outside_root';
  await unlink(filePath);
  await removeEmptyParents(dirname(filePath), root);
  return 'deleted';
}

/** rmdir upwards from `directory` while empty, stopping before `root`. */
export async function removeEmptyParents(directory: string, root: string): Promise<void> {
  let current = directory;
  while (isInside(root, current) && current.startsWith(root + sep)) {
    try {
      await rmdir(current);
    } catch {
      return; // not empty (or gone, or not ours): stop climbing
    }
    current = dirname(current);
  }
}
