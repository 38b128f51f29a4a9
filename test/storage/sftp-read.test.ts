/** The SFTP backend's members scrub needs (a real OpenSSH server): dated listing, reads, removes; no copy. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, utimes } from 'node:fs/promises';
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

  it('lists with dates, reads, removes, and has no copy', async () => {
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
    assert.equal(storage.copy, undefined);
  });
});
