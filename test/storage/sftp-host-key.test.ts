/** Host-key decisions and key-to-path mapping of the SFTP backend (no server needed). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostFieldMatches, hostKeyProblem, knownKeysFor, sha256Fingerprint } from '../../src/storage/sftp-host-key.js';
import { createRemotePaths, isTemporaryName, temporaryPathFor } from '../../src/storage/sftp-paths.js';

/** A fresh ed25519 public key: its blob, its known_hosts form, and ssh-keygen's fingerprint of it. */
async function newKey(dir: string, name: string): Promise<{ blob: Buffer; line: string; fingerprint: string }> {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  const line = (await readFile(`${file}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`])
    .toString()
    .split(' ')[1]!;
  return { blob: Buffer.from(line.split(' ')[1]!, 'base64'), line, fingerprint };
}

describe('SFTP host keys', () => {
  it('computes the fingerprint ssh-keygen prints, and reads known_hosts as OpenSSH writes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sync4loong-hostkey-'));
    try {
      const key = await newKey(dir, 'a');
      const other = await newKey(dir, 'b');
      assert.equal(sha256Fingerprint(key.blob), key.fingerprint);

      const knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, `[sftp.example.org]:2222 ${key.line}\nbackup.example.org ${other.line}\n`);
      // ssh-keygen -H hashes the names as OpenSSH's HashKnownHosts does.
      execFileSync('ssh-keygen', ['-H', '-f', knownHosts], { stdio: 'ignore' });
      const hashed = await readFile(knownHosts, 'utf8');
      assert.ok(!hashed.includes('example.org'), 'names are hashed');
      assert.deepEqual(
        knownKeysFor(hashed, '[sftp.example.org]:2222').map((entry) => entry.blob.toString('base64')),
        [key.blob.toString('base64')],
      );
      assert.deepEqual(knownKeysFor(hashed, 'sftp.example.org'), [], 'another port is another host');

      const policy = { host: 'sftp.example.org', port: 2222, knownHosts, fingerprint: '', insecure: false };
      assert.equal(hostKeyProblem(policy, key.blob), undefined);
      assert.match(hostKeyProblem(policy, other.blob)!, /CHANGED/);
      assert.ok(hostKeyProblem(policy, other.blob)!.includes(other.fingerprint));
      assert.match(hostKeyProblem({ ...policy, host: 'new.example.org' }, key.blob)!, /is not in/);
      assert.equal(hostKeyProblem({ ...policy, fingerprint: key.fingerprint }, key.blob), undefined);
      assert.equal(hostKeyProblem({ ...policy, fingerprint: `${key.fingerprint}=` }, key.blob), undefined, 'padding tolerated');
      assert.match(hostKeyProblem({ ...policy, fingerprint: other.fingerprint }, key.blob)!, /does not match/);
      assert.equal(hostKeyProblem({ ...policy, knownHosts: join(dir, 'missing'), insecure: true }, other.blob), undefined);

      await writeFile(knownHosts, `@revoked * ${key.line}\n*.example.org,!backup.example.org ${key.line}\n`);
      assert.match(hostKeyProblem(policy, key.blob)!, /@revoked/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('matches host patterns and negations', () => {
    assert.equal(hostFieldMatches('*.example.org,!backup.example.org', 'sftp.example.org'), true);
    assert.equal(hostFieldMatches('*.example.org,!backup.example.org', 'backup.example.org'), false);
    assert.equal(hostFieldMatches('10.0.0.?', '10.0.0.7'), true);
    assert.equal(hostFieldMatches('10.0.0.?', '10.0.0.17'), false);
    assert.equal(hostFieldMatches('[h]:22', 'h'), false);
  });
});

describe('SFTP key paths', () => {
  it('maps keys below the root and refuses the ones that would leave it', () => {
    assert.equal(createRemotePaths('').pathOf('nar/x.nar'), 'nar/x.nar');
    assert.equal(createRemotePaths('/srv/cache/').pathOf('nar/x.nar'), '/srv/cache/nar/x.nar');
    assert.equal(createRemotePaths('/').pathOf('a'), '/a');
    for (const key of ['', '/abs', '../x', 'a/../b', 'a/./b', 'a//b', 'a/', 'nul\0']) {
      assert.throws(() => createRemotePaths('/srv').pathOf(key), /escapes the storage root/, JSON.stringify(key));
    }
  });

  it('names temporary files beside their targets, hidden, by content MD5', () => {
    const md5 = '0123456789abcdef0123456789abcdef';
    assert.equal(temporaryPathFor('/srv/nar/x.nar', md5), `/srv/nar/.x.nar.${md5}.partial`);
    assert.equal(temporaryPathFor('top', md5), `.top.${md5}.partial`);
    assert.equal(isTemporaryName(`.x.nar.${md5}.partial`), true);
    assert.equal(isTemporaryName('x.partial'), false);
  });
});
