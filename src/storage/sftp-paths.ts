import { posix } from 'node:path';

/** A key that would leave the remote root, or is not a plain relative path. */
export class UnsafeKeyError extends Error {
  constructor(key: string) {
    super(`key escapes the storage root: ${JSON.stringify(key)}`);
    this.name = 'UnsafeKeyError';
  }
}

/** Suffix of the temporary files beside their targets; listings never show them. */
export const PARTIAL_SUFFIX = '.partial';

/**
 * Maps keys to remote paths below `root` (empty: the login folder, so paths stay relative).
 * Absolute keys, `..` and `.` segments, empty segments and NUL are refused, as the publisher
 * refuses them for S3: a key can never name a path outside the root.
 */
export function createRemotePaths(root: string) {
  const base = root === '' ? '' : root.replace(/\/+$/, '') || '/';

  function pathOf(key: string): string {
    const segments = key.split('/');
    if (key === '' || key.includes('\0') || key.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new UnsafeKeyError(key);
    }
    return base === '' ? key : posix.join(base, key);
  }

  return {
    pathOf,
    /** Where a listing of keys below `relativeFolder` ('' for the root) is read. */
    folderOf(relativeFolder: string): string {
      if (relativeFolder === '') return base === '' ? '.' : base;
      return pathOf(relativeFolder);
    },
  };
}

/**
 * The temporary name beside `path` for content with this MD5: hidden, and the same for the
 * same content, so an interrupted upload of that content can resume from it.
 */
export function temporaryPathFor(path: string, md5: string): string {
  const folder = posix.dirname(path);
  const name = `.${posix.basename(path)}.${md5}${PARTIAL_SUFFIX}`;
  return folder === '.' ? name : posix.join(folder, name);
}

/** Whether a file name is one of our temporaries (hidden and ending in `.partial`). */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(PARTIAL_SUFFIX);
}
