import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import type { RootPolicy } from '../publish/roots.js';
import type { LocalFile } from '../storage/index.js';
import { PermanentError } from './permanent.js';

/**
 * Read only; a final symlink is not followed (a link the walk published is resolved once,
 * below, and its target opened the same way); never blocks: a FIFO or a device swapped in
 * opens at once (without O_NONBLOCK, opening a FIFO waits for a writer and holds one of
 * libuv's four pool threads: four of them stop every file operation of the daemon).
 */
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A job's file, opened once: everything the worker reads of it goes through this descriptor. */
export interface SourceFile extends LocalFile {
  /** `fstat` of the descriptor at open. */
  readonly info: Stats;
  /** Real path of the open file (from the descriptor, not from the path). */
  readonly realPath: string;
  /** The descriptor's `fstat` now. */
  now(): Promise<Stats>;
  close(): Promise<void>;
}

/**
 * Opens a job's file for upload: a regular file inside the allowed roots, or nothing
 * (undefined: the path does not exist). Throws `PermanentError` for anything else. The
 * roots are checked against the real path of the open descriptor, so a path swapped for
 * a symlink to a file outside them after this check cannot be read through it.
 */
export async function openSourceFile(path: string, roots: RootPolicy | undefined): Promise<SourceFile | undefined> {
  const handle = await openNoFollow(path);
  if (handle === undefined) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new PermanentError(`not a regular file: ${path}`);
    const realPath = await realPathOf(handle, path, info);
    if (roots?.restricted && !roots.allows(realPath)) throw new PermanentError(`file is outside the allowed roots: ${path}`);
    return {
      path,
      handle,
      info,
      realPath,
      now: () => handle.stat(),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function openNoFollow(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'ELOOP') throw error;
  }
  // A symlinked file inside a published folder is published with its target's content.
  let target: string;
  try {
    target = await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await open(target, FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Swapped again between the two calls: a retry starts over.
    throw error;
  }
}

/**
 * The real path of an open file: on Linux the kernel's own answer for the descriptor;
 * elsewhere the path resolved, accepted only if it names the same file (device and inode).
 */
async function realPathOf(handle: FileHandle, path: string, info: Stats): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const resolved = await realpath(path);
    const named = await stat(resolved);
    if (named.dev !== info.dev || named.ino !== info.ino) throw new Error(`file replaced while opened: ${path}`);
    return resolved;
  }
}
