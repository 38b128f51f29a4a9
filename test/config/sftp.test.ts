import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig, redactConfig, secretValues } from '../../src/config/index.js';
import { tempDir } from '../helpers/daemon.js';

async function fileWith(text: string): Promise<string> {
  const file = join(await tempDir('cfg-sftp'), 'config.toml');
  await writeFile(file, text);
  return file;
}

function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('should throw');
}

describe('[sftp] config', () => {
  it('has the documented defaults', () => {
    const { config } = loadConfig({ env: { SYNC4LOONG_STORAGE_TYPE: 'fs', SYNC4LOONG_STORAGE_ROOT: '/x' } });
    assert.deepEqual(config.sftp, {
      host: '',
      port: 22,
      username: '',
      password: '',
      password_file: '',
      private_key: '',
      private_key_file: '',
      private_key_passphrase: '',
      private_key_passphrase_file: '',
      connection_timeout: 30,
      enable_resume: true,
      root: '',
      known_hosts: '',
      host_key_fingerprint: '',
      insecure_ignore_host_key: false,
      connections: 4,
      verify: 'size',
    });
  });

  it('requires host, username and one credential when storage.type is "sftp"', async () => {
    const problems = problemsOf(() => loadConfig({ env: { SYNC4LOONG_STORAGE_TYPE: 'sftp' } }));
    assert.ok(problems.includes('sftp.host is required when storage.type is "sftp"'), problems.join('\n'));
    assert.ok(problems.includes('sftp.username is required when storage.type is "sftp"'), problems.join('\n'));
    assert.ok(
      problems.some((problem) =>
        /^sftp\.password, sftp\.password_file, sftp\.private_key or sftp\.private_key_file is required/.test(problem),
      ),
    );
    const file = await fileWith(
      '[storage]\ntype = "sftp"\n[sftp]\nhost = "h"\nusername = "u"\nport = 0\nconnections = 65\nverify = "hash"\nconnection_timeout = 0\n',
    );
    const ranges = problemsOf(() => loadConfig({ file, env: { SYNC4LOONG_SFTP_PASSWORD: 'pw' } }));
    for (const key of ['sftp.port', 'sftp.connections', 'sftp.verify', 'sftp.connection_timeout']) {
      assert.ok(
        ranges.some((problem) => problem.startsWith(key)),
        `${key} in ${ranges.join('\n')}`,
      );
    }
    assert.equal(ranges.length, 4, ranges.join('\n'));
  });

  it('reads secret files and redacts the secrets', async () => {
    const folder = await tempDir('cfg-sftp-secrets');
    await writeFile(join(folder, 'key'), '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n');
    await writeFile(join(folder, 'pass'), 'phrase-123\n');
    const file = await fileWith(
      `[storage]\ntype = "sftp"\n[sftp]\nhost = "h"\nusername = "u"\nprivate_key_file = "${folder}/key"\nprivate_key_passphrase_file = "${folder}/pass"\npassword = "pw-456"\n`,
    );
    const { config } = loadConfig({ file, env: {} });
    assert.equal(config.sftp.private_key, '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----');
    assert.equal(config.sftp.private_key_passphrase, 'phrase-123');
    const redacted = redactConfig(config);
    assert.equal(redacted.sftp.private_key, '********');
    assert.equal(redacted.sftp.private_key_passphrase, '********');
    assert.equal(redacted.sftp.password, '********');
    assert.deepEqual(
      secretValues(config).filter((value) => value.startsWith('phrase') || value.startsWith('pw-')),
      ['pw-456', 'phrase-123'],
    );
  });
});
