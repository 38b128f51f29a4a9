import { opendir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { statOrUndefined } from './quick-fs.js';

/** Files of one directory stat'ed together (only while the disk is slow do they overlap: quick-fs.ts). */
const STAT_BATCH = 64;

export interface WalkedFile {
  /** Path below the walked root (a symlink keeps its own path). */
  path: string;
  /** Path relative to the root, with OS separators. */
  relativePath: string;
  size: number;
}

export interface WalkEvents {
  /** An entry that was passed over (a directory cycle, a broken link, a socket...). */
  skipped?: (path: string, reason: string) => void;
  /** Whether a symlink's real target may be read; refused targets are skipped. */
  allows?: (realPath: string) => boolean;
}

/**
 * Yields every regular file below `root` (a real path), one at a time, reading
 * directories as streams so a 100k-file folder never sits in memory. Symlinks are
 * followed: a linked file is yielded under the link's path; a linked directory is
 * entered unless it is one of its own ancestors (a cycle).
 */
export async function* walkFiles(root: string, events: WalkEvents = {}): AsyncGenerator<WalkedFile> {
  yield* walkDirectory(root, root, root, [root], events);
}

async function* walkDirectory(
  root: string,
  directory: string,
  realDirectory: string,
  ancestors: string[],
  events: WalkEvents,
): AsyncGenerator<WalkedFile> {
  const handle = await opendir(directory, { bufferSize: 256 });
  // Regular files in a row are stat'ed as one batch, then yielded in their order.
  let files: string[] = [];
  async function* statFiles(): AsyncGenerator<WalkedFile> {
    const batch = files;
    files = [];
    const infos = await Promise.all(batch.map((path) => statOrUndefined(path)));
    for (const [index, path] of batch.entries()) {
      const info = infos[index];
      if (info?.isFile()) yield { path, relativePath: relative(root, path), size: info.size };
    }
  }
  for await (const entry of handle) {
    const path = join(directory, entry.name);
    if (entry.isFile()) {
      files.push(path);
      if (files.length >= STAT_BATCH) yield* statFiles();
      continue;
    }
    yield* statFiles();
    if (entry.isDirectory()) {
      const real = join(realDirectory, entry.name);
      yield* walkDirectory(root, path, real, [...ancestors, real], events);
      continue;
    }
    if (!entry.isSymbolicLink()) {
      events.skipped?.(path, 'not a regular file');
      continue;
    }
    const info = await statOrUndefined(path);
    if (info === undefined) {
      events.skipped?.(path, 'broken symlink');
    } else if (events.allows !== undefined && !events.allows(await realpath(path))) {
      events.skipped?.(path, 'symlink leads outside the allowed roots');
    } else if (info.isFile()) {
      yield { path, relativePath: relative(root, path), size: info.size };
    } else if (info.isDirectory()) {
      const target = await realpath(path);
      if (ancestors.some((ancestor) => target === ancestor || ancestor.startsWith(target + sep))) {
        events.skipped?.(path, 'symlinked directory cycle');
      } else {
        yield* walkDirectory(root, path, target, [...ancestors, target], events);
      }
    } else {
      events.skipped?.(path, 'not a regular file');
    }
  }
  yield* statFiles();
}

/** Whether a folder holds at least one file (reads no further than the first). */
export async function hasAnyFile(root: string): Promise<boolean> {
  for await (const _file of walkFiles(root)) return true;
  return false;
}
