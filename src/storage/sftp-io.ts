import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { FileEntryWithStats, OpenMode, SFTPWrapper, Stats } from 'ssh2';
import { SftpConnectionError } from './sftp-errors.js';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) the backend tells apart. */
export const SFTP_NO_SUCH_FILE = 2;

/** Bytes per WRITE or READ request: below OpenSSH's 256 KiB packet limit, so ssh2 never splits one. */
export const REQUEST_BYTES = 128 * 1024;
/** Requests of one transfer in flight at once (16 x 128 KiB = 2 MiB, ssh2's channel window). */
export const REQUESTS_IN_FLIGHT = 16;

export function isNoSuchFile(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === SFTP_NO_SUCH_FILE;
}

/** Sessions whose connection went away (marked by the pool when ssh2 reports it). */
const lostSessions = new WeakSet<SFTPWrapper>();

export function markLost(sftp: SFTPWrapper): void {
  lostSessions.add(sftp);
}

export function isLost(sftp: SFTPWrapper): boolean {
  return lostSessions.has(sftp);
}

/** Promise forms of the SFTP requests the backend sends. */
export function sftpCalls(sftp: SFTPWrapper) {
  const channel = sftp as unknown as { outgoing?: { state?: string } };
  /**
   * ssh2 silently drops a request sent on a closed channel and never calls it back: such a
   * request fails here at once instead of hanging the upload (and its retries, which wait
   * for it: one upload per path at a time).
   */
  function call<T>(run: (callback: (error: Error | undefined | null, value: T) => void) => void): Promise<T> {
    // After the connection dropped, ssh2 has failed every pending request, but a new one
    // would be queued on a channel that may still look open and never be answered.
    if (lostSessions.has(sftp) || channel.outgoing?.state !== 'open') {
      return Promise.reject(new SftpConnectionError('SFTP session is closed', 'ECONNRESET'));
    }
    return new Promise<T>((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
  }

  return {
    open: (path: string, flags: OpenMode) => call<Buffer>((cb) => sftp.open(path, flags, cb)),
    close: (handle: Buffer) => call<void>((cb) => sftp.close(handle, (error) => cb(error, undefined))),
    fstat: (handle: Buffer) => call<Stats>((cb) => sftp.fstat(handle, cb)),
    stat: (path: string) => call<Stats>((cb) => sftp.stat(path, cb)),
    /** Stat, or null when nothing is at `path`. */
    async statOrNull(path: string): Promise<Stats | null> {
      try {
        return await call<Stats>((cb) => sftp.stat(path, cb));
      } catch (error) {
        if (isNoSuchFile(error)) return null;
        throw error;
      }
    },
    unlink: (path: string) => call<void>((cb) => sftp.unlink(path, (error) => cb(error, undefined))),
    /** `posix-rename@openssh.com`: replaces the target in one step, so no reader sees it missing or half-written. */
    posixRename: (from: string, to: string) => call<void>((cb) => sftp.ext_openssh_rename(from, to, (error) => cb(error, undefined))),
    readdir: (path: string) => call<FileEntryWithStats[]>((cb) => sftp.readdir(path, cb)),
    write: (handle: Buffer, buffer: Buffer, position: number) =>
      call<void>((cb) => sftp.write(handle, buffer, 0, buffer.length, position, (error) => cb(error, undefined))),
    read: (handle: Buffer, length: number, position: number) =>
      call<Buffer>((cb) =>
        sftp.read(handle, Buffer.allocUnsafe(length), 0, length, position, (error, bytesRead, buffer) =>
          cb(error, error ? Buffer.alloc(0) : buffer.subarray(0, bytesRead)),
        ),
      ),
    /** `mkdir -p`: creates each missing folder of `path`, from the deepest existing one down. */
    async mkdirs(path: string): Promise<void> {
      const missing: string[] = [];
      for (let folder = path; folder !== '.' && folder !== '/' && folder !== ''; folder = posix.dirname(folder)) {
        if ((await this.statOrNull(folder)) !== null) break;
        missing.unshift(folder);
      }
      for (const folder of missing) {
        try {
          await call<void>((cb) => sftp.mkdir(folder, (error) => cb(error, undefined)));
        } catch (error) {
          // Another upload created it meanwhile: fine if it is there now.
          if ((await this.statOrNull(folder)) === null) throw error;
        }
      }
    },
  };
}

export type SftpCalls = ReturnType<typeof sftpCalls>;

/**
 * Sends writes with up to REQUESTS_IN_FLIGHT outstanding: `next` yields each buffer and its
 * offset in the remote file. The first failed write fails the whole transfer.
 */
export async function pipelinedWrite(
  calls: SftpCalls,
  handle: Buffer,
  chunks: AsyncIterable<{ buffer: Buffer; position: number }> | Iterable<{ buffer: Buffer; position: number }>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for await (const { buffer, position } of chunks) {
    signal?.throwIfAborted();
    if (failure) break;
    const write = calls.write(handle, buffer, position).then(
      () => {
        pending.delete(write);
      },
      (error: unknown) => {
        pending.delete(write);
        failure ??= { error };
      },
    );
    pending.add(write);
    if (pending.size >= REQUESTS_IN_FLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending);
  if (failure) throw failure.error;
  signal?.throwIfAborted();
}

/** Splits a buffer into write requests starting at `position`. */
export function* bufferChunks(buffer: Buffer, position = 0): Iterable<{ buffer: Buffer; position: number }> {
  for (let offset = 0; offset < buffer.length; offset += REQUEST_BYTES) {
    yield { buffer: buffer.subarray(offset, offset + REQUEST_BYTES), position: position + offset };
  }
}

/** The first `size` bytes of a remote file, chunk by chunk in order, read with several requests in flight. */
async function readRemote(
  calls: SftpCalls,
  path: string,
  size: number,
  signal: AbortSignal | undefined,
  onChunk: (chunk: Buffer) => void,
): Promise<void> {
  const handle = await calls.open(path, 'r');
  try {
    const reads: Promise<Buffer>[] = [];
    let next = 0;
    const issue = () => {
      while (reads.length < REQUESTS_IN_FLIGHT && next < size) {
        const length = Math.min(REQUEST_BYTES, size - next);
        reads.push(readFully(calls, handle, length, next));
        next += length;
      }
    };
    issue();
    while (reads.length > 0) {
      signal?.throwIfAborted();
      onChunk(await reads.shift()!);
      issue();
    }
  } finally {
    await calls.close(handle).catch(() => {});
  }
}

/** Hex MD5 of the first `size` bytes of a remote file. */
export async function remoteMd5(calls: SftpCalls, path: string, size: number, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('md5');
  await readRemote(calls, path, size, signal, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

/** A remote file's first `size` bytes, in memory (a file shorter than that yields fewer). */
export async function remoteBytes(calls: SftpCalls, path: string, size: number, signal: AbortSignal | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await readRemote(calls, path, size, signal, (chunk) => chunks.push(chunk));
  return Buffer.concat(chunks);
}

/** One read that retries a short answer for the rest; a file shorter than asked yields fewer bytes. */
async function readFully(calls: SftpCalls, handle: Buffer, length: number, position: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < length) {
    let part: Buffer;
    try {
      part = await calls.read(handle, length - got, position + got);
    } catch (error) {
      if ((error as { code?: unknown }).code === 1) break; // SSH_FX_EOF
      throw error;
    }
    if (part.length === 0) break;
    parts.push(part);
    got += part.length;
  }
  return Buffer.concat(parts);
}
