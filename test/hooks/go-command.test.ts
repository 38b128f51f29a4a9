/**
 * A post-sync command written for the Go daemon (split on whitespace, no shell): it loads
 * here, with a warning naming ssh_shell, and runs with the argv Go passed, except that
 * quoted words stay whole.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { loadConfig } from '../../src/config/index.js';
import { hookConfig } from './helpers.js';

describe('a post-sync command written for the Go daemon', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.destroy();
  });

  it('loads with ~, | and quotes in it and runs with the argv Go passed, quoted words kept whole', async () => {
    const dir = await tempDir('go-argv');
    const script = join(dir, 'argv.sh');
    // Writes each argument after the output file on its own NUL-terminated record.
    await writeFile(script, 'out="$1"; shift; printf "%s\\0" "$@" > "$out.tmp"; mv "$out.tmp" "$out"\n');
    const out = join(dir, 'argv');
    const command = `/bin/sh ${script} ${out} ~/x a|b 'c d' $HOME; "e $f" x>y`;

    const file = join(dir, 'config.toml');
    const bucket = await tempDir('bucket');
    await writeFile(
      file,
      `[storage]\ntype = "fs"\nroot = "${bucket}"\n[daemon]\nenable_ssh_task = true\nssh_command = ${JSON.stringify(command)}\n`,
    );
    const { config, warnings = [] } = loadConfig({ file, env: {} });
    assert.equal(config.daemon.ssh_command, command);
    assert.deepEqual(warnings, [
      'daemon.ssh_command contains shell syntax (a leading "~", "|", "$", ";", "$" inside double quotes, ">") that is passed on literally inside its words, as the Go daemon did (ssh hands it to the remote shell); set daemon.ssh_shell = true to run the command with sh -c here instead',
    ]);

    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a' });
    const daemon = await startApp(hookConfig(redis, bucket, { ssh_command: command }));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      // Written, then renamed into place: once it exists, it is whole.
      const written = await waitFor(() => readFile(out, 'utf8').catch(() => ''), { what: 'the post-sync command to run' });
      const argv = written.split('\0').slice(0, -1);
      // The Go daemon passed: ~/x  a|b  'c  d'  $HOME;  "e  $f"  x>y
      assert.deepEqual(argv, ['~/x', 'a|b', 'c d', '$HOME;', 'e $f', 'x>y']);
    } finally {
      await daemon.close();
    }
  });
});
