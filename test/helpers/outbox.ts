/** Hostile outbox contents for tests: entries that cannot be read, even by root. */
import { mkdir, rename, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const LONG = 'n'.repeat(250);
const LEVELS = 17;

/**
 * `root/<name>/<LONG>/<LONG>/...`: a chain of folders whose deepest path is longer than
 * PATH_MAX (4096 bytes), built by renames so that no call ever names the whole path. The
 * deepest folder cannot be opened (ENAMETOOLONG, for root as for anyone); the one above
 * it holds a file that cannot be stat'ed. Returns both, relative to `root`.
 */
export async function pathTooLong(root: string, name = 'deep'): Promise<{ folder: string; file: string }> {
  const work = join(root, `.build-${name}`);
  await mkdir(work);
  let chain = join(work, 'chain');
  await mkdir(chain);
  for (let level = 0; level < LEVELS; level += 1) {
    if (level === 1) await writeFile(join(chain, 'f'.repeat(250)), 'x');
    const wrapper = join(work, `w${level}`);
    await mkdir(wrapper);
    await rename(chain, join(wrapper, LONG));
    chain = wrapper;
  }
  await rename(chain, join(root, name));
  await rmdir(work);
  const levels = Array.from({ length: LEVELS }, () => LONG);
  return { folder: join(name, ...levels), file: join(name, ...levels.slice(0, LEVELS - 1), 'f'.repeat(250)) };
}
