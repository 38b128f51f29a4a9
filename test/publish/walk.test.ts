import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { walkFiles } from '../../src/publish/walk.js';
import { nixOrderOfFolderFile } from '../../src/publish/nix-order.js';
import { readHeadQuickly, statOrUndefined } from '../../src/publish/quick-fs.js';
import { createRootPolicy } from '../../src/publish/roots.js';
import { tempDir, writeTree } from '../helpers/daemon.js';

const open = createRootPolicy([]);

function narinfo(url: string, padding = ''): string {
  return `StorePath: /nix/store/abc-hello\nURL: ${url}\nNarHash: sha256:00\nNarSize: 4\n${padding}`;
}

describe('publish walk', () => {
  it('yields every regular file once with its size, across stat batches, folders and symlinks', async () => {
    const root = await realpath(await tempDir('walk'));
    const expected = new Map<string, number>();
    // More files than one stat batch (64) in one folder, with folders and links between them.
    for (let index = 0; index < 150; index += 1) {
      const name = `f${String(index).padStart(3, '0')}`;
      await writeFile(join(root, name), 'x'.repeat(index));
      expected.set(name, index);
      if (index % 50 === 7) {
        await mkdir(join(root, `d${index}`));
        await writeFile(join(root, `d${index}`, 'inner'), 'abc');
        expected.set(join(`d${index}`, 'inner'), 3);
      }
    }
    await symlink(join(root, 'f010'), join(root, 'link-to-f010'));
    expected.set('link-to-f010', 10);
    await symlink(join(root, 'nowhere'), join(root, 'broken'));

    const skipped: string[] = [];
    const seen = new Map<string, number>();
    for await (const file of walkFiles(root, { skipped: (path, reason) => skipped.push(`${path}: ${reason}`) })) {
      assert.ok(!seen.has(file.relativePath), `yielded twice: ${file.relativePath}`);
      seen.set(file.relativePath, file.size);
    }
    assert.deepEqual([...seen.entries()].sort(), [...expected.entries()].sort());
    assert.deepEqual(skipped, [`${join(root, 'broken')}: broken symlink`]);
  });

  it('stat and head reads answer like their async counterparts', async () => {
    const root = await tempDir('quick');
    await writeTree(root, { small: 'hello', big: 'a'.repeat(100) });
    assert.equal((await statOrUndefined(join(root, 'small')))?.size, 5);
    assert.equal(await statOrUndefined(join(root, 'missing')), undefined);
    assert.deepEqual(await readHeadQuickly(join(root, 'small'), 10), { text: 'hello', truncated: false });
    assert.deepEqual(await readHeadQuickly(join(root, 'big'), 100), { text: 'a'.repeat(100), truncated: false });
    assert.deepEqual(await readHeadQuickly(join(root, 'big'), 99), { text: 'a'.repeat(99), truncated: true });
    await assert.rejects(readHeadQuickly(join(root, 'missing'), 10), { code: 'ENOENT' });
  });
});

describe('Nix order of a walked narinfo', () => {
  async function cache(files: Record<string, string>) {
    const root = await realpath(await tempDir('nixorder'));
    await writeTree(root, files);
    return { root, to: 'cache' };
  }

  it('orders a narinfo after its NAR when the NAR is a file of the folder', async () => {
    const folder = await cache({ 'a.narinfo': narinfo('nar/a.nar.xz'), 'nar/a.nar.xz': 'nar!' });
    assert.deepEqual(await nixOrderOfFolderFile(join(folder.root, 'a.narinfo'), folder, open), { wait_for_key: 'cache/nar/a.nar.xz' });
  });

  it('does not hold a narinfo whose NAR is absent or a folder', async () => {
    const folder = await cache({ 'a.narinfo': narinfo('nar/a.nar.xz'), 'b.narinfo': narinfo('nar'), 'nar/other': 'x' });
    assert.deepEqual(await nixOrderOfFolderFile(join(folder.root, 'a.narinfo'), folder, open), {});
    assert.deepEqual(await nixOrderOfFolderFile(join(folder.root, 'b.narinfo'), folder, open), {});
  });

  it('reads only the first 64 KiB of a narinfo, dropping a line cut there', async () => {
    const filler = 'x'.repeat(64 * 1024); // the documented read limit
    const folder = await cache({
      // URL within the limit, a long line after it: ordered.
      'long.narinfo': narinfo('nar/a.nar.xz', `Sig: ${filler}\n`),
      // URL only after the limit: not seen, not held.
      'late.narinfo': `StorePath: /nix/store/abc-hello\nSig: ${filler}\nURL: nar/a.nar.xz\n`,
      'nar/a.nar.xz': 'nar!',
    });
    assert.deepEqual(await nixOrderOfFolderFile(join(folder.root, 'long.narinfo'), folder, open), { wait_for_key: 'cache/nar/a.nar.xz' });
    assert.deepEqual(await nixOrderOfFolderFile(join(folder.root, 'late.narinfo'), folder, open), {});
  });
});
