/** The SFTP backend's members scrub needs (a real OpenSSH server): dated listing, reads, removes, copies. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { createSftpStorage } from '../../src/storage/sftp.js';
import type { Storage } from '../../src/storage/index.js';
import { startSshd, type SshServer } from '../helpers/sshd.js';
import { sftpStorageOptions } from './sftp-setup.js';

describe('sftp storage: what scrub uses', () => {
  let server: SshServer;
  let storage: Storage;
  before(async () => {
    server = await startSshd();
    storage = createSftpStorage(sftpStorageOptions(server, { root: 'cache' }));
  });
  after(async () => {
    storage?.close();
    await server?.close();
  });

  it('lists with dates, reads and removes', async () => {
    await mkdir(join(server.root, 'cache', 'nar'), { recursive: true });
    await writeFile(join(server.root, 'cache', 'abc.narinfo'), 'StorePath: x\n');
    await writeFile(join(server.root, 'cache', 'nar', 'old.nar.xz'), 'nar');
    const old = new Date('2020-01-02T03:04:05Z');
    await utimes(join(server.root, 'cache', 'nar', 'old.nar.xz'), old, old);
    const page = await storage.list!('');
    const byKey = Object.fromEntries(page.objects.map((object) => [object.key, object]));
    assert.deepEqual(Object.keys(byKey).sort(), ['abc.narinfo', 'nar/old.nar.xz']);
    assert.equal(byKey['nar/old.nar.xz']!.lastModified?.toISOString(), '2020-01-02T03:04:05.000Z');
    assert.equal(await storage.read!('abc.narinfo', (body) => text(body)), 'StorePath: x\n');
    assert.equal(await storage.read!('missing.narinfo', (body) => text(body)), null);
    await storage.remove!('nar/old.nar.xz');
    assert.equal(await storage.head('nar/old.nar.xz'), null);
    await storage.remove!('nar/old.nar.xz'); // absent already is fine
  });

  it('copies an object into new folders and over an existing one, and refuses a missing source', async () => {
    await mkdir(join(server.root, 'cache'), { recursive: true });
    const content = 'StorePath: /nix/store/q-x\nURL: nar/q.nar.xz\n'.repeat(3000); // several read requests
    await writeFile(join(server.root, 'cache', 'q.narinfo'), content);
    await storage.copy!('q.narinfo', '_quarantine/2026-12-03/q.narinfo');
    assert.equal(await readFile(join(server.root, 'cache', '_quarantine', '2026-12-03', 'q.narinfo'), 'utf8'), content);
    assert.equal(await storage.read!('q.narinfo', (body) => text(body)), content, 'the source stays');

    await writeFile(join(server.root, 'cache', 'other.narinfo'), 'StorePath: other\n');
    await storage.copy!('other.narinfo', '_quarantine/2026-12-03/q.narinfo');
    assert.equal(await readFile(join(server.root, 'cache', '_quarantine', '2026-12-03', 'q.narinfo'), 'utf8'), 'StorePath: other\n');
    assert.deepEqual(await readdir(join(server.root, 'cache', '_quarantine', '2026-12-03')), ['q.narinfo'], 'no temporary file left');

    await assert.rejects(storage.copy!('missing.narinfo', '_quarantine/x.narinfo'), /cannot copy missing\.narinfo: no such file/);
  });
});
