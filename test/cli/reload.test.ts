/** Config reload of the real binary: its file rewritten (in place and by rename), SIGHUP, an invalid file. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toToml, type Config } from '../../src/config/index.js';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, rawConfig, request, startDaemonProcess, tempDir, writeTree, type DaemonProcess } from '../helpers/daemon.js';
import { quietAfterChanges } from '../helpers/quiet.js';

const TOKEN = 'process-token-0123456789';
type RawConfig = { [section: string]: Record<string, unknown> };

/** Rewrites the daemon's config file as `raw` plus `overrides`; `byRename` saves as editors do. */
async function rewrite(daemon: DaemonProcess, raw: RawConfig, overrides: RawConfig, byRename = false): Promise<void> {
  const merged: RawConfig = { ...raw };
  for (const [section, values] of Object.entries(overrides)) merged[section] = { ...raw[section], ...values };
  const text = toToml(merged as unknown as Config);
  if (!byRename) return writeFile(daemon.configFile, text);
  await writeFile(`${daemon.configFile}.new`, text);
  await rename(`${daemon.configFile}.new`, daemon.configFile);
}

/** Lines of the daemon's output with this `msg`, from `since` (an offset into the output) on. */
function linesWith(daemon: DaemonProcess, msg: string, since = 0): string[] {
  return daemon
    .output()
    .slice(since)
    .split('\n')
    .filter((line) => line.includes(`msg="${msg}"`));
}

describe('config reload of the daemon process', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('follows its file: debug logging, a new token, a restart-only key named in a warning, then an invalid file kept out', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    // The helper starts the child at info (it waits for the start line).
    const raw = rawConfig(redis, s3, { daemon: { log_level: 'info' } }, bucket);
    const daemon = await startDaemonProcess(raw);
    const get = (path: string, headers: Record<string, string> = {}) => request(daemon.url, 'GET', path, undefined, headers);
    const publish = async (name: string, headers: Record<string, string> = {}) => {
      await writeTree(src, { [name]: name });
      return request(daemon.url, 'POST', '/publish', [{ from: join(src, name), to: `store/${name}` }], headers);
    };
    try {
      const started = (await get('/readyz')).body.config;
      assert.equal(started.file, daemon.configFile);

      // Saved in place: debug logging and a token.
      await rewrite(daemon, raw, { daemon: { log_level: 'debug' }, http: { auth_tokens: [TOKEN] } });
      await waitFor(async () => (await get('/stats')).status === 401, { what: 'the token to be required' });
      const auth = { authorization: `Bearer ${TOKEN}` };
      assert.equal((await get('/stats', auth)).status, 200);
      assert.match(linesWith(daemon, 'config reloaded').at(-1) ?? '', /reason="file changed" changed=daemon\.log_level,http\.auth_tokens/);
      assert.equal((await publish('a.narinfo', auth)).status, 200);
      await waitFor(() => linesWith(daemon, 'upload job started').some((line) => line.includes('store/a.narinfo')), {
        what: 'a debug line for the upload',
      });

      // Saved by rename: a restart-only key is named and kept.
      const before = daemon.output().length;
      await rewrite(daemon, raw, { daemon: { log_level: 'debug' }, http: { auth_tokens: [TOKEN], addr: '127.0.0.1:1' } }, true);
      await waitFor(() => linesWith(daemon, 'config keys need a restart to change: running values kept', before).length === 1, {
        what: 'the restart warning',
      });
      assert.match(
        linesWith(daemon, 'config keys need a restart to change: running values kept', before)[0]!,
        /level=warn .*keys=http\.addr/,
      );
      assert.deepEqual((await get('/readyz', auth)).body.config.restart_pending, ['http.addr'], 'still answering on the old address');

      // An invalid file: every problem logged, the running config keeps working, /readyz tells.
      const beforeInvalid = daemon.output().length;
      await rewrite(daemon, raw, { daemon: { log_level: 'verbose', concurrency: 1000 }, http: { auth_tokens: [TOKEN] } });
      await waitFor(() => linesWith(daemon, 'config reload refused: the running config stays', beforeInvalid).length === 2, {
        what: 'both problems logged',
      });
      const refused = linesWith(daemon, 'config reload refused: the running config stays', beforeInvalid).join('\n');
      assert.match(refused, /daemon\.log_level/);
      assert.match(refused, /daemon\.concurrency/);
      const readyz = await get('/readyz', auth); // with tokens set, the config needs one
      assert.equal(readyz.status, 200);
      assert.equal(readyz.body.config.last_reload_error.problems.length, 2);
      assert.equal(readyz.body.config.hash, (await get('/stats', auth)).body.config.hash);
      assert.equal((await publish('b.narinfo', auth)).status, 200, 'the running config (and its token) still works');
      assert.equal((await publish('c.narinfo')).status, 401);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    assert.doesNotMatch(daemon.output(), new RegExp(TOKEN), 'the token never reaches the log');
  });

  it('reloads on SIGHUP, and only then with watch_config = false', async () => {
    const bucket = await createBucket(s3);
    const raw = rawConfig(redis, s3, { daemon: { log_level: 'info', watch_config: false } }, bucket);
    const daemon = await startDaemonProcess(raw);
    try {
      const quiet = quietAfterChanges(daemon.configFile, 3 * 300);
      await rewrite(daemon, raw, { http: { auth_tokens: [TOKEN] } });
      // Past the watch's debounce (300 ms): a watching daemon would have started its reload.
      await quiet;
      assert.equal((await request(daemon.url, 'GET', '/stats')).status, 200, 'not watched: the file alone changes nothing');

      daemon.child.kill('SIGHUP');
      await waitFor(async () => (await request(daemon.url, 'GET', '/stats')).status === 401, { what: 'SIGHUP to reload' });
      // Reloads run in order: one started by a watch would be logged before SIGHUP's.
      const reloads = linesWith(daemon, 'config reloaded');
      assert.equal(reloads.length, 1, reloads.join('\n'));
      assert.match(reloads[0]!, /reason=SIGHUP changed=http\.auth_tokens/);
      assert.equal(daemon.child.exitCode, null, 'SIGHUP does not stop the daemon');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  });
});
