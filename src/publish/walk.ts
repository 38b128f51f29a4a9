import { isUtf8 } from 'node:buffer';
import type { Dir } from 'node:fs';
import { opendir, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { statOrError } from './quick-fs.js';

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
  // Names as bytes: a name that is not valid UTF-8 has no string path that names it.
  let handle: Dir;
  try {
    handle = await opendir(directory, { bufferSize: 256, encoding: 'buffer' as BufferEncoding });
  } catch (error) {
    events.skipped?.(directory, `cannot read folder: ${errorCode(error)}`);
    return;
  }
  // Regular files in a row are stat'ed as one batch, then yielded in their order.
  let files: string[] = [];
  async function* statFiles(): AsyncGenerator<WalkedFile> {
    const batch = files;
    files = [];
    const infos = await Promise.all(batch.map((path) => statOrError(path)));
    for (const [index, path] of batch.entries()) {
      const info = infos[index]!;
      if (info instanceof Error) events.skipped?.(path, `cannot read file: ${errorCode(info)}`);
      else if (info.isFile()) yield { path, relativePath: relative(root, path), size: info.size };
      else events.skipped?.(path, 'not a regular file');
    }
  }
  try {
    for await (const entry of handle) {
      const rawName = entry.name as unknown as Buffer;
      const name = rawName.toString('utf8');
      const path = join(directory, name);
      if (!isUtf8(rawName)) {
        yield* statFiles();
        events.skipped?.(path, `name is not valid UTF-8 (bytes ${rawName.toString('hex')})`);
        continue;
      }
      if (entry.isFile()) {
        files.push(path);
        if (files.length >= STAT_BATCH) yield* statFiles();
        continue;
      }
      yield* statFiles();
      if (entry.isDirectory()) {
        const real = join(realDirectory, name);
        yield* walkDirectory(root, path, real, [...ancestors, real], events);
        continue;
      }
      if (!entry.isSymbolicLink()) {
        events.skipped?.(path, 'not a regular file');
        continue;
      }
      yield* walkSymlink(root, path, ancestors, events);
    }
  } catch (error) {
    // The folder stopped answering part way (removed, unmounted): what was read stands.
    events.skipped?.(directory, `cannot read folder: ${errorCode(error)}`);
  }
  yield* statFiles();
}

async function* walkSymlink(root: string, path: string, ancestors: string[], events: WalkEvents): AsyncGenerator<WalkedFile> {
  const info = await statOrError(path);
  if (info instanceof Error) {
    events.skipped?.(path, info.code === 'ENOENT' ? 'broken symlink' : `cannot read symlink target: ${errorCode(info)}`);
    return;
  }
  let target: string;
  try {
    target = await realpath(path);
  } catch (error) {
    events.skipped?.(path, `cannot read symlink target: ${errorCode(error)}`);
    return;
  }
  if (events.allows !== undefined && !events.allows(target)) {
    events.skipped?.(path, 'symlink leads outside the allowed roots');
  } else if (info.isFile()) {
    yield { path, relativePath: relative(root, path), size: info.size };
  } else if (info.isDirectory()) {
    if (ancestors.some((ancestor) => target === ancestor || ancestor.startsWith(target + sep))) {
      events.skipped?.(path, 'symlinked directory cycle');
    } else {
      yield* walkDirectory(root, path, target, [...ancestors, target], events);
    }
  } else {
    events.skipped?.(path, 'not a regular file');
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

/** Whether a folder holds at least one file (reads no further than the first). */
export async function hasAnyFile(root: string): Promise<boolean> {
  for await (const _file of walkFiles(root)) return true;
  return false;
}
