import { posix } from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { digestFile, md5OfFile, type FileDigest } from './hashing.js';
import { readStreamOf, readWhole, type LocalFile } from './local-file.js';
import { pacedChunks } from './paced.js';
import { bufferChunks, isNoSuchFile, pipelinedWrite, remoteBytes, remoteMd5, sftpCalls, type SftpCalls } from './sftp-io.js';
import { isTemporaryName, createRemotePaths, temporaryPathFor } from './sftp-paths.js';
import { createSftpPool, untilAborted, type SftpConnectOptions } from './sftp-pool.js';
import { IntegrityError, type ListedObject, type ListPage, type ObjectInfo, type Pacing, type PutResult, type Storage } from './types.js';

export interface SftpStorageOptions extends SftpConnectOptions {
  /** SSH connections opened at most (`sftp.connections`). */
  connections: number;
  /** Remote folder the keys live below; empty: the login folder. */
  root: string;
  /** Continue a partial temporary file of the same content instead of starting over. */
  enableResume: boolean;
  /** After the rename: `size` checks the final file's size, `readback` also reads it back and compares its MD5. */
  verify: 'size' | 'readback';
}

/** Files up to this size are read once into memory; larger ones are streamed (and resumable). */
const BUFFERED_PUT_LIMIT = 1024 * 1024;
/** Largest object `copy` takes: it goes through the daemon's memory. */
const COPY_LIMIT_BYTES = 64 * 1024 * 1024;
const LIST_PAGE = 1000;
const crc32 = (zlib as { crc32?: (data: Buffer, value?: number) => number }).crc32;

/** Checks a second read of a file against the digest of the first (by CRC-32 where zlib has it, else MD5). */
function createRecheck(expected: FileDigest) {
  const md5 = expected.crc32 === undefined || crc32 === undefined ? createHash('md5') : undefined;
  let crc = 0;
  let bytes = 0;
  return {
    update(chunk: Buffer) {
      bytes += chunk.length;
      if (md5 !== undefined) md5.update(chunk);
      else crc = crc32!(chunk, crc);
    },
    /** Undefined when the bytes read match the first read, else what differs. */
    problem(size: number): string | undefined {
      if (bytes !== size) return `read ${bytes} bytes, expected ${size}`;
      if (md5 !== undefined) {
        const digest = md5.digest('hex');
        return digest === expected.md5 ? undefined : `MD5 ${digest}, expected ${expected.md5}`;
      }
      return crc === expected.crc32 ? undefined : `CRC-32 ${crc}, expected ${expected.crc32}`;
    },
  };
}

/**
 * The SFTP backend. An upload goes to a hidden temporary file beside the target, named by
 * the content's MD5 (so an interrupted upload of the same content resumes from it), and is
 * renamed over the target with `posix-rename@openssh.com` only once the bytes read hashed
 * as announced and the temporary file has exactly that size; the final file is then
 * stat'ed (and, with `verify = "readback"`, read back and hashed) before `putFile` resolves.
 */
export function createSftpStorage(options: SftpStorageOptions): Storage {
  const pool = createSftpPool(options);
  const paths = createRemotePaths(options.root);
  /** One upload per remote path at a time in this process: two would write the same temporary file. */
  const uploading = new Map<string, Promise<unknown>>();

  async function serialised<T>(path: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    for (let previous = uploading.get(path); previous !== undefined; previous = uploading.get(path)) {
      await untilAborted(
        previous.catch(() => {}),
        signal,
      );
    }
    const current = run();
    uploading.set(path, current);
    try {
      return await current;
    } finally {
      if (uploading.get(path) === current) uploading.delete(path);
    }
  }

  /** Opens the temporary file for writing, creating its folders when the first try finds them missing. */
  async function openTemporary(calls: SftpCalls, temporary: string, flags: 'w' | 'r+'): Promise<Buffer> {
    try {
      return await calls.open(temporary, flags);
    } catch (error) {
      if (!isNoSuchFile(error)) throw error;
      await calls.mkdirs(posix.dirname(temporary));
      return calls.open(temporary, flags);
    }
  }

  /**
   * Sends the file's bytes from `offset` on (the ones before were sent by an earlier,
   * interrupted upload of the same content) while re-reading all of it to check the digest.
   */
  async function* streamedChunks(file: LocalFile, offset: number, recheck: ReturnType<typeof createRecheck>) {
    let position = 0;
    for await (const chunk of readStreamOf(file, 128 * 1024)) {
      const buffer = chunk as Buffer;
      recheck.update(buffer);
      const end = position + buffer.length;
      if (end > offset) {
        const start = Math.max(offset - position, 0);
        yield { buffer: buffer.subarray(start), position: position + start };
      }
      position = end;
    }
  }

  async function upload(
    calls: SftpCalls,
    path: string,
    size: number,
    content: { buffer: Buffer; md5: string } | { file: LocalFile; digest: FileDigest },
    signal: AbortSignal | undefined,
    pacing?: Pacing,
  ): Promise<string> {
    const md5 = 'buffer' in content ? content.md5 : content.digest.md5;
    const temporary = temporaryPathFor(path, md5);
    let offset = 0;
    if ('digest' in content && options.enableResume) {
      const partial = await calls.statOrNull(temporary);
      if (partial !== null && partial.size <= size) offset = partial.size;
    }
    const handle = await openTemporary(calls, temporary, offset > 0 ? 'r+' : 'w');
    let integrity: IntegrityError | undefined;
    let sent = false;
    try {
      if ('buffer' in content) {
        await pipelinedWrite(calls, handle, pacedChunks(bufferChunks(content.buffer), pacing, signal), signal);
      } else {
        const recheck = createRecheck(content.digest);
        await pipelinedWrite(calls, handle, pacedChunks(streamedChunks(content.file, offset, recheck), pacing, signal), signal);
        const problem = recheck.problem(size);
        if (problem !== undefined) integrity = new IntegrityError(`file changed during upload: ${problem}`);
      }
      if (integrity === undefined) {
        const written = (await calls.fstat(handle)).size;
        if (written !== size) integrity = new IntegrityError(`temporary file ${temporary} holds ${written} bytes, expected ${size}`);
      }
      sent = true;
    } finally {
      await calls.close(handle).catch(() => {});
      // Without resume a partial temporary file is of no use: remove it (best effort, the connection may be gone).
      if (!sent && !options.enableResume) await calls.unlink(temporary).catch(() => {});
    }
    if (integrity !== undefined) {
      await calls.unlink(temporary).catch(() => {});
      throw integrity;
    }
    await calls.posixRename(temporary, path);
    return md5;
  }

  /** What `putFile` proves before resolving: the final file's size, and with readback its MD5. */
  async function verifyStored(calls: SftpCalls, path: string, size: number, md5: string, signal: AbortSignal | undefined) {
    const stored = await calls.statOrNull(path);
    if (stored === null || stored.size !== size) {
      throw new IntegrityError(`stored file ${path} has ${stored === null ? 'vanished' : `${stored.size} bytes`}, expected ${size}`);
    }
    if (options.verify === 'readback') {
      const readBack = await remoteMd5(calls, path, size + 1, signal);
      if (readBack !== md5) throw new IntegrityError(`stored file ${path} reads back with MD5 ${readBack}, expected ${md5}`);
    }
  }

  async function head(key: string, headOptions: { signal?: AbortSignal | undefined; withMd5?: boolean | undefined } = {}) {
    const path = paths.pathOf(key);
    return pool.run(headOptions.signal, async (sftp): Promise<ObjectInfo | null> => {
      const calls = sftpCalls(sftp);
      const stats = await calls.statOrNull(path);
      if (stats === null || !stats.isFile()) return null;
      // SFTP has no stored checksum: the MD5 costs a read of the whole remote file.
      const md5 = headOptions.withMd5 ? await remoteMd5(calls, path, stats.size, headOptions.signal) : undefined;
      return { size: stats.size, md5 };
    });
  }

  /** Keys below `prefix`, depth first with names sorted, after `after` (the last key of the previous page). */
  async function list(prefix: string, listOptions: { continuation?: string | undefined; signal?: AbortSignal | undefined } = {}) {
    const after = listOptions.continuation?.split('/');
    const objects: ListedObject[] = [];
    let more = false;
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? '' : prefix.slice(0, slash);
    if (start !== '') paths.pathOf(start);

    await pool.run(listOptions.signal, async (sftp) => {
      const calls = sftpCalls(sftp);
      async function walk(folder: string, depth: number, onPathOfAfter: boolean): Promise<void> {
        let entries;
        try {
          entries = await calls.readdir(paths.folderOf(folder));
        } catch (error) {
          if (isNoSuchFile(error)) return;
          throw error;
        }
        const names = entries.map((entry) => entry).sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
        for (const entry of names) {
          if (more) return;
          listOptions.signal?.throwIfAborted();
          const name = entry.filename;
          if (name === '.' || name === '..' || isTemporaryName(name)) continue;
          const key = folder === '' ? name : `${folder}/${name}`;
          const bound = onPathOfAfter ? after?.[depth] : undefined;
          if (bound !== undefined && name < bound) continue;
          const onPath = bound !== undefined && name === bound;
          if (entry.attrs.isDirectory()) {
            const asFolder = `${key}/`;
            if (asFolder.startsWith(prefix) || prefix.startsWith(asFolder)) await walk(key, depth + 1, onPath);
          } else if (entry.attrs.isFile() && key.startsWith(prefix) && !(onPath && depth === after!.length - 1)) {
            if (objects.length === LIST_PAGE) {
              more = true;
              return;
            }
            objects.push({ key, size: entry.attrs.size, lastModified: new Date(entry.attrs.mtime * 1000) });
          }
        }
      }
      await walk(start, start === '' ? 0 : start.split('/').length, after !== undefined);
    });
    const last = objects.at(-1);
    return { objects, continuation: more && last !== undefined ? last.key : undefined } satisfies ListPage;
  }

  return {
    description: `sftp://${options.username}@${options.host}:${options.port}/${options.root}`,
    head,
    async putFile(key, file, put): Promise<PutResult> {
      const path = paths.pathOf(key);
      let content: { buffer: Buffer; md5: string } | { file: LocalFile; digest: FileDigest };
      if (put.size <= BUFFERED_PUT_LIMIT) {
        const buffer = await readWhole(file, put.size);
        content = { buffer, md5: createHash('md5').update(buffer).digest('hex') };
      } else {
        // The first read names the temporary file; the second, while sending, is checked against it.
        content = { file, digest: await digestFile(file) };
      }
      return serialised(path, put.signal, () =>
        pool.run(put.signal, async (sftp) => {
          const calls = sftpCalls(sftp);
          const md5 = await upload(calls, path, put.size, content, put.signal, put.pacing);
          await verifyStored(calls, path, put.size, md5, put.signal);
          return { md5, multipart: false, proof: options.verify === 'readback' ? 'readback' : 'size' };
        }),
      );
    },
    async sameContent(remote, file) {
      return remote.md5 !== undefined && remote.md5 === (await md5OfFile(file));
    },
    list,
    async read(key, consume, readOptions = {}) {
      const path = paths.pathOf(key);
      return pool.run(readOptions.signal, async (sftp) => {
        const stats = await sftpCalls(sftp).statOrNull(path);
        if (stats === null || !stats.isFile()) return null;
        const body = sftp.createReadStream(path);
        try {
          return await consume(body);
        } finally {
          body.destroy();
        }
      });
    },
    /**
     * SFTP has no server-side copy: the object is read into memory (up to
     * `COPY_LIMIT_BYTES`: scrub quarantines narinfos of a few KiB) and written back like an
     * upload (temporary file, size checked, renamed), then the copy's size checked again.
     */
    async copy(from, to) {
      const source = paths.pathOf(from);
      const target = paths.pathOf(to);
      await serialised(target, undefined, () =>
        pool.run(undefined, async (sftp) => {
          const calls = sftpCalls(sftp);
          const stats = await calls.statOrNull(source);
          if (stats === null || !stats.isFile()) throw new Error(`cannot copy ${from}: no such file`);
          if (stats.size > COPY_LIMIT_BYTES) {
            throw new Error(`cannot copy ${from}: ${stats.size} bytes, SFTP copies at most ${COPY_LIMIT_BYTES} (through memory)`);
          }
          const buffer = await remoteBytes(calls, source, stats.size, undefined);
          if (buffer.length !== stats.size)
            throw new IntegrityError(`${from} changed while copied: read ${buffer.length} of ${stats.size} bytes`);
          const md5 = createHash('md5').update(buffer).digest('hex');
          await upload(calls, target, buffer.length, { buffer, md5 }, undefined);
          await verifyStored(calls, target, buffer.length, md5, undefined);
        }),
      );
    },
    async remove(key) {
      const path = paths.pathOf(key);
      await pool.run(undefined, async (sftp) => {
        const calls = sftpCalls(sftp);
        if ((await calls.statOrNull(path)) !== null) await calls.unlink(path);
      });
    },
    async ping(signal) {
      await pool.run(signal, (sftp) => sftpCalls(sftp).stat(paths.folderOf('')));
    },
    close() {
      pool.close();
    },
  };
}
