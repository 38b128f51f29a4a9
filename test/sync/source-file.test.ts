/** How the worker opens a job's file (issue 17, findings 1 and 2): once, never blocking, checked by its descriptor. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFile, realpath, rename, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openSourceFile } from '../../src/sync/source-file.js';
import { createFileSync, deleteUploadedFile, noSyncMetrics, PermanentError } from '../../src/sync/index.js';
import { createFsStorage } from '../../src/storage/index.js';
import { silentLogger } from '../../src/log/index.js';
import { createRootPolicy } from '../../src/publish/roots.js';
import { tempDir } from '../helpers/daemon.js';

describe('opening a job file', () => {
  it('opens a regular file, and a symlink to one inside the roots, by its real path; the path missing is undefined', async () => {
    const root = await realpath(await tempDir('open-root'));
    await writeFile(join(root, 'file'), 'content');
    await symlink(join(root, 'file'), join(root, 'link'));
    const roots = createRootPolicy([root]);
    for (const name of ['file', 'link']) {
      const file = await openSourceFile(join(root, name), roots);
      assert.ok(file !== undefined);
      assert.equal(file.realPath, join(root, 'file'));
      assert.equal(file.info.size, 7);
      await file.close();
    }
    assert.equal(await openSourceFile(join(root, 'missing'), roots), undefined);
  });

  it('refuses for good a symlink leading outside the roots, and a FIFO without waiting for a writer', async () => {
    const root = await realpath(await tempDir('open-root'));
    const outside = await realpath(await tempDir('open-outside'));
    await writeFile(join(outside, 'secret'), 'secret');
    await symlink(join(outside, 'secret'), join(root, 'escape'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const roots = createRootPolicy([root]);
    await assert.rejects(openSourceFile(join(root, 'escape'), roots), (error: Error) => {
      assert.ok(error instanceof PermanentError);
      assert.match(error.message, /outside the allowed roots/);
      return true;
    });
    // Nobody ever opens the FIFO's other end: a blocking open would never return.
    await assert.rejects(openSourceFile(join(root, 'pipe'), roots), /not a regular file/);
  });

  it('the walk reads a narinfo head without blocking on a FIFO of that name', async () => {
    const root = await realpath(await tempDir('open-fifo'));
    execFileSync('mkfifo', [join(root, 'x.narinfo')]);
    // In a child process: a blocking open here would stop this process's event loop for good.
    const script = `import { readHeadQuickly } from ${JSON.stringify(new URL('../../src/publish/quick-fs.js', import.meta.url).href)};
      import { readNarinfo } from ${JSON.stringify(new URL('../../src/nix/index.js', import.meta.url).href)};
      const path = process.argv[1];
      const quick = await readHeadQuickly(path, 100).then(() => 'read', (error) => error.message);
      const slow = await readNarinfo(path).then(() => 'read', (error) => error.message);
      process.stdout.write(JSON.stringify([quick, slow]));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, join(root, 'x.narinfo')], {
      timeout: 20_000,
    });
    assert.deepEqual(JSON.parse(stdout), [`not a regular file: ${join(root, 'x.narinfo')}`, 'not a regular file']);
  });
});

describe('the worker and the file it read', () => {
  it('delete-after-sync keeps a different file put in its place, even with the same size and mtime', async () => {
    const root = await realpath(await tempDir('same-inode'));
    await writeFile(join(root, 'f'), 'aaaa');
    const read = await stat(join(root, 'f'));
    await writeFile(join(root, 'other'), 'bbbb');
    await utimes(join(root, 'other'), read.atime, read.mtime);
    await rename(join(root, 'other'), join(root, 'f'));
    assert.equal(await deleteUploadedFile(join(root, 'f'), root, read), 'changed');
    assert.equal(await readFile(join(root, 'f'), 'utf8'), 'bbbb');
  });

  it('refuses for good a file larger than publish.max_file_bytes when its job runs', async () => {
    const root = await realpath(await tempDir('max-worker'));
    await writeFile(join(root, 'grown'), Buffer.alloc(20));
    const sync = createFileSync(
      {
        storage: createFsStorage({ root: await tempDir('bucket') }),
        cache: { recordExists: async () => {} },
        log: silentLogger(),
        metrics: noSyncMetrics,
      },
      { compare: 'size', maxFileBytes: 10 },
    );
    const data = { file_path: join(root, 'grown'), s3_key: 'k/grown', size: 5, delete_after_sync: false, overwrite: false, root };
    await assert.rejects(
      sync(data),
      (error: Error) => error instanceof PermanentError && /larger than publish.max_file_bytes \(20 > 10\)/.test(error.message),
    );
  });
});
