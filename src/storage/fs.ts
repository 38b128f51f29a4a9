import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HashingStream, md5OfFile, md5OfStream } from './hashing.js';
import { readStreamOf } from './local-file.js';
import { pacedStream } from './paced.js';
import { IntegrityError, type Storage } from './types.js';

export interface FsStorageOptions {
  /** Folder that plays the bucket; keys are paths below it. */
  root: string;
}

/**
 * A local folder as the bucket (the quick start, and caches served from disk). Objects are
 * written to a temporary file and renamed into place, so a reader never sees half a file.
 */
export function createFsStorage(options: FsStorageOptions): Storage {
  const root = resolve(options.root);

  function pathOf(key: string): string {
    const path = resolve(root, key);
    if (!path.startsWith(root + sep)) throw new Error(`key escapes the storage root: ${key}`);
    return path;
  }

  return {
    description: `fs:${root}`,
    async head(key, headOptions = {}) {
      let info;
      try {
        info = await stat(pathOf(key));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
        throw error;
      }
      if (!info.isFile()) return null;
      const md5 = headOptions.withMd5 ? await md5OfStream(createReadStream(pathOf(key))) : undefined;
      return { size: info.size, md5 };
    },
    async putFile(key, file, put) {
      const destination = pathOf(key);
      await mkdir(dirname(destination), { recursive: true });
      // Beside the object, under a short name of its own: the object's name plus a suffix
      // could pass the file-name limit (NAME_MAX, 255 bytes) that the name alone keeps.
      const temporary = join(dirname(destination), `.sync4loong-${randomBytes(6).toString('hex')}.partial`);
      const hashing = new HashingStream();
      try {
        await pipeline(readStreamOf(file), pacedStream(put.pacing, put.signal), hashing, createWriteStream(temporary), {
          signal: put.signal,
        });
        if (hashing.bytes !== put.size) {
          throw new IntegrityError(`file changed during upload: read ${hashing.bytes} bytes, expected ${put.size}`);
        }
        const handle = await open(temporary, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temporary, destination);
      } catch (error) {
        await rm(temporary, { force: true });
        throw error;
      }
      return { md5: hashing.md5(), multipart: false, proof: 'local' };
    },
    async sameContent(remote, file) {
      return remote.md5 !== undefined && remote.md5 === (await md5OfFile(file));
    },
    async remove(key) {
      await rm(pathOf(key), { force: true });
    },
    async ping() {
      await mkdir(root, { recursive: true });
      await stat(join(root, '.'));
    },
    close() {},
  };
}
