/** The fs backend's members scrub needs: a paged listing with dates, reads and copies. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { createFsStorage } from '../../src/storage/index.js';
import { tempDir, writeTree } from '../helpers/daemon.js';

describe('fs storage: list, read, copy', () => {
  it('lists every key once across pages, in walk order, with sizes and dates', async () => {
    const root = await tempDir('fs-list');
    const files: Record<string, string> = { 'a.b/x': '1', 'a/y': '22', 'top.narinfo': '333' };
    for (let index = 0; index < 1203; index += 1) files[`nar/${String(index).padStart(5, '0')}.nar.xz`] = 'n';
    await writeTree(root, files);
    const storage = createFsStorage({ root });
    const seen: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await storage.list!('', { continuation });
      pages += 1;
      for (const object of page.objects) {
        seen.push(object.key);
        assert.ok(object.lastModified instanceof Date);
        assert.equal(object.size, files[object.key]!.length);
      }
      continuation = page.continuation;
    } while (continuation !== undefined);
    assert.equal(pages, 2);
    assert.deepEqual([...seen].sort(), Object.keys(files).sort());
    assert.equal(new Set(seen).size, seen.length);
    const narOnly = await storage.list!('nar/0000');
    assert.equal(narOnly.objects.length, 10);
  });

  it('reads an object as a stream, null when absent, and copies one', async () => {
    const root = await tempDir('fs-read');
    await writeTree(root, { 'cache/abc.narinfo': 'StorePath: x\n' });
    const storage = createFsStorage({ root });
    assert.equal(await storage.read!('cache/abc.narinfo', (body) => text(body)), 'StorePath: x\n');
    assert.equal(await storage.read!('cache/missing', (body) => text(body)), null);
    await storage.copy!('cache/abc.narinfo', '_quarantine/2026-01-01/cache/abc.narinfo');
    assert.equal(await storage.read!('_quarantine/2026-01-01/cache/abc.narinfo', (body) => text(body)), 'StorePath: x\n');
  });
});
