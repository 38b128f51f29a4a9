import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { IntegrityError } from './types.js';

/**
 * A local file its caller opened once (the worker: without following a final symlink,
 * checked to be a regular file inside the allowed roots: src/sync/source-file.ts).
 * Backends read it only through its descriptor, never by path again, so what they hash,
 * compare and upload is the file that was checked even if its path is swapped meanwhile.
 * The caller closes it.
 */
export interface LocalFile {
  /** Where it was opened, for messages only. */
  readonly path: string;
  readonly handle: FileHandle;
}

/** A stream over the whole content, by positional reads: any number of them, one after another; the descriptor stays open. */
export function readStreamOf(file: LocalFile, highWaterMark = 1024 * 1024): Readable {
  return file.handle.createReadStream({ start: 0, autoClose: false, highWaterMark });
}

/** The first `size` bytes; fewer bytes than that fails (the file shrank). */
export async function readWhole(file: LocalFile, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const { bytesRead } = await file.handle.read(buffer, length, size - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  if (length !== size) throw new IntegrityError(`file changed before upload: ${length} bytes, expected ${size}`);
  return buffer;
}

/** Opens a path the caller trusts (tests, tools), read only. */
export async function openLocalFile(path: string): Promise<LocalFile> {
  return { path, handle: await open(path, 'r') };
}
