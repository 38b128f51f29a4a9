/** How the worker opens a job's file (issue 17, findings 1 and 2): once, never blocking, checked by its descriptor. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openSourceFile } from '../../src/sync/source-file.js';
import { PermanentError } from '../../src/sync/index.js';
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
