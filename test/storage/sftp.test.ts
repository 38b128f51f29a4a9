/**
 * The SFTP backend against a real OpenSSH server (test/helpers/sshd.ts): uploads, listing,
 * keys kept below the root, host-key checks, key and passphrase logins, resume from a
 * partial temporary file, and reconnection after the server was down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSftpStorage, type SftpStorageOptions } from '../../src/storage/sftp.js';
import { IntegrityError, openLocalFile, type LocalFile, type Storage } from '../../src/storage/index.js';
import { isUnreachableError } from '../../src/sync/outage.js';
import { startByteCountingProxy, startSshd, type SshServer } from '../helpers/sshd.js';
import { sftpStorageOptions } from './sftp-setup.js';

let server: SshServer;
let local: string;
const opened: Storage[] = [];
const files: LocalFile[] = [];

before(async () => {
  server = await startSshd();
  local = await mkdtemp(join(tmpdir(), 'sync4loong-sftp-local-'));
});

after(async () => {
  for (const storage of opened) storage.close();
  for (const file of files) await file.handle.close();
  await server.close();
  await rm(local, { recursive: true, force: true });
});

function storageWith(overrides: Partial<SftpStorageOptions> = {}): Storage {
  const storage = createSftpStorage(sftpStorageOptions(server, overrides));
  opened.push(storage);
  return storage;
}

/** Writes `content` to a local file and opens it, as the worker hands files to a backend. */
async function localFile(name: string, content: Buffer): Promise<LocalFile> {
  const path = join(local, name);
  await writeFile(path, content);
  return openFile(path);
}

async function openFile(path: string): Promise<LocalFile> {
  const file = await openLocalFile(path);
  files.push(file);
  return file;
}

const md5 = (buffer: Buffer) => createHash('md5').update(buffer).digest('hex');

describe('SFTP storage', () => {
  it('uploads below the login folder, byte-exact, and leaves no temporary file', async () => {
    const storage = storageWith({ verify: 'readback' });
    const small = randomBytes(5000);
    const large = randomBytes(3 * 1024 * 1024 + 17);
    const put = await storage.putFile('nar/a/small.nar', await localFile('small', small), { size: small.length, contentType: 'x' });
    assert.equal(put.md5, md5(small));
    await storage.putFile('nar/a/large.nar.xz', await localFile('large', large), { size: large.length, contentType: 'x' });
    assert.deepEqual(await readFile(join(server.root, 'nar/a/small.nar')), small);
    assert.deepEqual(await readFile(join(server.root, 'nar/a/large.nar.xz')), large);
    assert.deepEqual((await readdir(join(server.root, 'nar/a'))).sort(), ['large.nar.xz', 'small.nar']);

    assert.deepEqual(await storage.head('nar/a/small.nar'), { size: 5000, md5: undefined });
    assert.deepEqual(await storage.head('nar/a/small.nar', { withMd5: true }), { size: 5000, md5: md5(small) });
    assert.equal(await storage.head('nar/a/missing'), null);
    assert.equal(await storage.head('nar/a'), null, 'a folder is not an object');
    const remote = await storage.head('nar/a/large.nar.xz', { withMd5: true });
    assert.equal(await storage.sameContent(remote!, await openFile(join(local, 'large'))), true);
    assert.equal(await storage.sameContent(remote!, await openFile(join(local, 'small'))), false);
    await storage.ping();
  });

  it('replaces an existing file', async () => {
    const storage = storageWith();
    const first = randomBytes(100);
    const second = randomBytes(200);
    await storage.putFile('replace/me', await localFile('first', first), { size: 100, contentType: 'x' });
    await storage.putFile('replace/me', await localFile('second', second), { size: 200, contentType: 'x' });
    assert.deepEqual(await readFile(join(server.root, 'replace/me')), second);
  });

  it('refuses keys that leave the root, and a file whose size changed', async () => {
    const storage = storageWith();
    const path = await localFile('k', Buffer.from('k'));
    for (const key of ['../outside', '/etc/passwd', 'a/../../b', 'a//b', './a']) {
      await assert.rejects(storage.putFile(key, path, { size: 1, contentType: 'x' }), /escapes the storage root/, key);
      await assert.rejects(storage.head(key), /escapes the storage root/, key);
    }
    await assert.rejects(storage.putFile('changed', path, { size: 2, contentType: 'x' }), IntegrityError);
    assert.equal(await storage.head('changed'), null);
  });

  it('keeps keys below a configured root', async () => {
    await mkdir(join(server.root, 'cache-root'), { recursive: true });
    const storage = storageWith({ root: join(server.root, 'cache-root') });
    await storage.putFile('x/y.narinfo', await localFile('y', Buffer.from('StorePath: y\n')), { size: 13, contentType: 'x' });
    assert.equal(await readFile(join(server.root, 'cache-root/x/y.narinfo'), 'utf8'), 'StorePath: y\n');
  });

  it('lists keys below a prefix in pages, without temporary files', async () => {
    const storage = storageWith();
    const folder = join(server.root, 'listing');
    await mkdir(join(folder, 'nar'), { recursive: true });
    const expected: string[] = [];
    for (let index = 0; index < 1203; index += 1) {
      const name = `nar/${String(index).padStart(4, '0')}.nar`;
      await writeFile(join(folder, name), 'x'.repeat(index % 7));
      expected.push(`listing/${name}`);
    }
    await writeFile(join(folder, 'nix-cache-info'), 'StoreDir: /nix/store\n');
    await writeFile(join(folder, 'nar/.0001.nar.0123456789abcdef0123456789abcdef.partial'), 'half');
    expected.push('listing/nix-cache-info');
    const keys: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await storage.list!('listing/', { continuation });
      keys.push(...page.objects.map((object) => object.key));
      if (page.objects[0]?.key === 'listing/nar/0005.nar') assert.equal(page.objects[0].size, 5);
      continuation = page.continuation;
      pages += 1;
    } while (continuation !== undefined);
    assert.equal(pages, 2);
    assert.deepEqual(keys.sort(), expected.sort());
    assert.deepEqual(
      (await storage.list!('listing/nix')).objects.map((object) => object.key),
      ['listing/nix-cache-info'],
    );
    assert.deepEqual((await storage.list!('nothing-here/')).objects, []);
  });

  it('logs in with a passphrase-protected key', async () => {
    const storage = storageWith({ privateKey: await readFile(server.encryptedClientKeyFile, 'utf8'), passphrase: server.passphrase });
    await storage.ping();
    const wrong = storageWith({ privateKey: await readFile(server.encryptedClientKeyFile, 'utf8'), passphrase: 'wrong' });
    await assert.rejects(
      wrong.ping(),
      (error: Error) => !isUnreachableError(error) && /private key|passphrase|decrypt/i.test(error.message),
    );
  });
});

describe('SFTP host keys', () => {
  const policy = (overrides: Partial<SftpStorageOptions['hostKey']>) => ({
    hostKey: { host: '127.0.0.1', port: server.port, knownHosts: '', fingerprint: '', insecure: false, ...overrides },
  });

  it('refuses a wrong fingerprint, printing the one to pin', async () => {
    const storage = storageWith(policy({ fingerprint: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }));
    await assert.rejects(storage.ping(), (error: Error) => {
      assert.match(error.message, /does not match sftp.host_key_fingerprint/);
      assert.ok(error.message.includes(server.fingerprint), error.message);
      assert.equal(isUnreachableError(error), false, 'a refused host key is not an outage');
      return true;
    });
  });

  it('accepts a host listed in known_hosts, refuses one it does not list', async () => {
    await storageWith(policy({ knownHosts: server.knownHostsFile })).ping();
    const other = join(local, 'other_known_hosts');
    await writeFile(
      other,
      `[127.0.0.1]:1 ${(await readFile(server.knownHostsFile, 'utf8')).split('\n')[1]!.split(' ').slice(1).join(' ')}\n`,
    );
    await assert.rejects(storageWith(policy({ knownHosts: other })).ping(), (error: Error) => {
      assert.match(error.message, /is not in .*other_known_hosts/);
      assert.ok(error.message.includes(server.fingerprint), error.message);
      return true;
    });
    const missing = join(local, 'no-such-known-hosts');
    await assert.rejects(storageWith(policy({ knownHosts: missing })).ping(), /cannot be verified: no sftp.host_key_fingerprint/);
  });

  it('accepts any key with insecure_ignore_host_key', async () => {
    await storageWith(policy({ knownHosts: join(local, 'no-such-known-hosts'), insecure: true })).ping();
  });
});

describe('SFTP resume and outages', () => {
  it('resumes from the partial temporary file of the same content', async () => {
    const proxy = await startByteCountingProxy(server.port);
    try {
      const content = randomBytes(8 * 1024 * 1024);
      const path = await localFile('resumable', content);
      const partial = join(server.root, 'resume', `.big.nar.${md5(content)}.partial`);
      await mkdir(join(server.root, 'resume'), { recursive: true });
      await writeFile(partial, content.subarray(0, 6 * 1024 * 1024));
      const storage = storageWith({ port: proxy.port, verify: 'readback' });
      await storage.putFile('resume/big.nar', path, { size: content.length, contentType: 'x' });
      assert.deepEqual(await readFile(join(server.root, 'resume/big.nar')), content);
      await assert.rejects(stat(partial), { code: 'ENOENT' });
      // 2 MiB were left to send (plus SSH framing); the whole file would be 8 MiB.
      assert.ok(proxy.bytesUp() < 3 * 1024 * 1024, `sent ${proxy.bytesUp()} bytes`);
    } finally {
      await proxy.close();
    }
  });

  it('starts over when resume is off', async () => {
    const proxy = await startByteCountingProxy(server.port);
    try {
      const content = randomBytes(4 * 1024 * 1024);
      const path = await localFile('not-resumed', content);
      await mkdir(join(server.root, 'noresume'), { recursive: true });
      await writeFile(join(server.root, 'noresume', `.f.${md5(content)}.partial`), randomBytes(3 * 1024 * 1024));
      const storage = storageWith({ port: proxy.port, enableResume: false });
      await storage.putFile('noresume/f', path, { size: content.length, contentType: 'x' });
      assert.deepEqual(await readFile(join(server.root, 'noresume/f')), content);
      assert.ok(proxy.bytesUp() > 4 * 1024 * 1024, `sent ${proxy.bytesUp()} bytes`);
    } finally {
      await proxy.close();
    }
  });

  it('reports a stopped server as unreachable, and reconnects once it is back', async () => {
    const storage = storageWith();
    await storage.ping();
    await server.stop();
    try {
      await assert.rejects(storage.ping(), (error: Error) => {
        assert.equal(isUnreachableError(error), true, `${error.name}: ${error.message}`);
        return true;
      });
    } finally {
      await server.start();
    }
    const content = Buffer.from('after the outage');
    await storage.putFile('outage/after', await localFile('after', content), { size: content.length, contentType: 'x' });
    assert.deepEqual(await readFile(join(server.root, 'outage/after')), content);
  });
});
