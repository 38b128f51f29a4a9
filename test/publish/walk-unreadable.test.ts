/**
 * Entries the walk cannot read are skipped with a reason, never dropped in silence and
 * never an error that ends the walk (issue 17, finding 3 and 4).
 *
 * Permission bits do not stop root, which runs these tests in CI: folders and files that
 * cannot be read are made with paths longer than PATH_MAX (ENAMETOOLONG for root as for
 * anyone), and the permission cases run the walk in a child process as `nobody` when the
 * test runs as root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { walkFiles } from '../../src/publish/walk.js';
import { tempDir } from '../helpers/daemon.js';
import { pathTooLong } from '../helpers/outbox.js';

async function walk(root: string): Promise<{ files: string[]; skipped: string[] }> {
  const files: string[] = [];
  const skipped: string[] = [];
  for await (const file of walkFiles(root, { skipped: (path, reason) => skipped.push(`${path.slice(root.length + 1)}: ${reason}`) })) {
    files.push(file.relativePath);
  }
  return { files: files.sort(), skipped: skipped.sort() };
}

describe('walk of entries it cannot read', () => {
  it('skips with a reason a folder it cannot open and a file it cannot stat, and goes on', async () => {
    const root = await realpath(await tempDir('walk-long'));
    await writeFile(join(root, 'before.txt'), 'a');
    const { folder, file } = await pathTooLong(root);
    await writeFile(join(root, 'zafter.txt'), 'b');
    assert.ok(root.length + 1 + folder.length > 4096);
    const { files, skipped } = await walk(root);
    assert.deepEqual(files, ['before.txt', 'zafter.txt']);
    assert.deepEqual(skipped, [`${file}: cannot read file: ENAMETOOLONG`, `${folder}: cannot read folder: ENAMETOOLONG`].sort());
  });

  it('skips a name that is not valid UTF-8, showing its bytes', async () => {
    const root = await realpath(await tempDir('walk-utf8'));
    const bad = Buffer.concat([Buffer.from(join(root, 'bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.nar')]);
    await writeFile(bad, 'x');
    await mkdir(Buffer.concat([Buffer.from(join(root, 'dir-')), Buffer.from([0xc3])]));
    await writeFile(join(root, 'good-é.txt'), 'y');
    const { files, skipped } = await walk(root);
    assert.deepEqual(files, ['good-é.txt']);
    assert.deepEqual(skipped, [
      'bad-\uFFFD\uFFFD.nar: name is not valid UTF-8 (bytes 6261642dfffe2e6e6172)',
      'dir-\uFFFD: name is not valid UTF-8 (bytes 6469722dc3)',
    ]);
  });

  it('skips folders without read or execute permission (walked as an unprivileged user)', async () => {
    const root = await realpath(await tempDir('walk-perm'));
    await chmod(root, 0o755);
    await mkdir(join(root, 'noexec'));
    await writeFile(join(root, 'noexec', 'inside.txt'), 'x');
    await mkdir(join(root, 'closed'));
    await writeFile(join(root, 'closed', 'hidden.txt'), 'x');
    await writeFile(join(root, 'open.txt'), 'y');
    await chmod(join(root, 'noexec'), 0o644);
    await chmod(join(root, 'closed'), 0o000);
    let result: { files: string[]; skipped: string[] };
    if (process.getuid?.() === 0) {
      // The walk, in a child process running as nobody.
      const script = `import { walkFiles } from ${JSON.stringify(new URL('../../src/publish/walk.js', import.meta.url).href)};
        const root = process.argv[1]; const files = []; const skipped = [];
        for await (const file of walkFiles(root, { skipped: (path, reason) => skipped.push(path.slice(root.length + 1) + ': ' + reason) })) files.push(file.relativePath);
        process.stdout.write(JSON.stringify({ files: files.sort(), skipped: skipped.sort() }));`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, root], {
        uid: 65534,
        gid: 65534,
      });
      result = JSON.parse(stdout);
    } else {
      result = await walk(root);
    }
    assert.deepEqual(result.files, ['open.txt']);
    assert.deepEqual(result.skipped, ['closed: cannot read folder: EACCES', 'noexec/inside.txt: cannot read file: EACCES']);
  });
});
