import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  changedKeys,
  configHash,
  createLiveConfig,
  loadConfig,
  needsRestart,
  validateConfig,
  type Config,
  type LiveConfig,
} from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/servers.js';
import { quietAfterChanges } from '../helpers/quiet.js';

/** A logger whose logfmt lines land in `lines`. */
function capturingLogger() {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (line) => lines.push(line) });
  return { log, lines };
}

/** A config file for the fs backend, with `extra` TOML appended. */
function configText(extra = ''): string {
  return `[storage]\ntype = "fs"\nroot = "/tmp/sync4loong-live-test"\n[redis]\nkey_prefix = "live"\n${extra}`;
}

async function liveFromFile(text: string, debounceMs = 50) {
  const dir = await tempDir('live');
  const file = join(dir, 'config.toml');
  await writeFile(file, text);
  const { log, lines } = capturingLogger();
  const live = createLiveConfig({ log, load: () => loadConfig({ file, env: {} }) }, { debounceMs });
  return { dir, file, live, lines };
}

/** Writes the file the way editors and config tools do: a new file renamed over the old one. */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

function reloadsOf(live: LiveConfig): number {
  return live.status().reloads;
}

describe('live config', () => {
  it('applies live keys, tells subscribers which keys changed, and keeps restart-only keys at their running value with a warning', async () => {
    const { file, live, lines } = await liveFromFile(configText('[daemon]\nwatch_config = false\n'));
    const seen: Array<{ changed: readonly string[]; level: string; previous: string }> = [];
    live.subscribe((next, previous, changed) => {
      seen.push({ changed, level: next.daemon.log_level, previous: previous.daemon.log_level });
    });
    const before = live.status();

    await writeFile(
      file,
      configText('[daemon]\nwatch_config = false\nlog_level = "debug"\nconcurrency = 3\nrole = "worker"\n[http]\naddr = ":9999"\n').replace(
        'key_prefix = "live"',
        'key_prefix = "other"',
      ),
    );
    const result = await live.reload('test');

    assert.equal(result.outcome, 'applied');
    assert.deepEqual(result.changed, ['daemon.log_level', 'daemon.concurrency']);
    assert.deepEqual(result.restartPending, ['redis.key_prefix', 'daemon.role', 'http.addr']);
    assert.deepEqual(seen, [{ changed: ['daemon.log_level', 'daemon.concurrency'], level: 'debug', previous: 'info' }]);
    const current = live.current();
    assert.equal(current.daemon.concurrency, 3);
    assert.equal(current.redis.key_prefix, 'live', 'restart-only key keeps its running value');
    assert.equal(current.daemon.role, 'all');
    assert.equal(current.http.addr, ':8080');
    assert.ok(Object.isFrozen(current) && Object.isFrozen(current.http), 'the merged config is frozen like a loaded one');
    const warning = lines.find((line) => line.includes('need a restart'));
    assert.ok(warning, lines.join(''));
    assert.match(warning, /level=warn .*keys=redis\.key_prefix,daemon\.role,http\.addr/);
    assert.match(
      lines.find((line) => line.includes('msg="config reloaded"'))!,
      /changed=daemon\.log_level,daemon\.concurrency/,
    );

    const after = live.status();
    assert.equal(after.reloads, 1);
    assert.notEqual(after.hash, before.hash);
    assert.deepEqual(after.restart_pending, ['redis.key_prefix', 'daemon.role', 'http.addr']);
    assert.ok(after.loaded_at >= before.loaded_at);
    assert.equal(after.file, file);
    live.close();
  });

  it('refuses an invalid file whole, logs every problem, keeps the running config and reports the error until a good reload', async () => {
    const { file, live, lines } = await liveFromFile(configText('[daemon]\nwatch_config = false\nconcurrency = 4\n'));
    let told = 0;
    live.subscribe(() => void (told += 1));
    const running = live.current();

    await writeFile(file, configText('[daemon]\nwatch_config = false\nconcurrency = 0\nlog_level = "loud"\n[publish]\nmax_retry = 11\n'));
    const refused = await live.reload('SIGHUP');
    assert.equal(refused.outcome, 'rejected');
    assert.equal(refused.problems.length, 3, refused.problems.join('\n'));
    assert.equal(live.current(), running, 'the running config object stays');
    assert.equal(told, 0);
    const errors = lines.filter((line) => line.includes('config reload refused'));
    assert.equal(errors.length, 3, 'one line per problem');
    for (const key of ['daemon.concurrency', 'daemon.log_level', 'publish.max_retry']) {
      assert.ok(
        errors.some((line) => line.includes(key)),
        `a line names ${key}`,
      );
    }
    const status = live.status();
    assert.equal(status.last_reload_error?.reason, 'SIGHUP');
    assert.equal(status.last_reload_error?.problems.length, 3);
    assert.equal(status.reloads, 0);

    // Broken TOML is refused the same way.
    await writeFile(file, '[daemon\nconcurrency = 5\n');
    assert.equal((await live.reload('test')).outcome, 'rejected');
    assert.match(live.status().last_reload_error!.problems[0]!, /not valid TOML at line 1/);

    await writeFile(file, configText('[daemon]\nwatch_config = false\nconcurrency = 5\n'));
    assert.equal((await live.reload('test')).outcome, 'applied');
    assert.equal(live.current().daemon.concurrency, 5);
    assert.equal(live.status().last_reload_error, null);
    live.close();
  });

  it('reloads once when an editor replaces the file by rename, and once for a burst of writes', async () => {
    const { file, live } = await liveFromFile(configText('[daemon]\nconcurrency = 2\n'), 150);
    await replaceFile(file, configText('[daemon]\nconcurrency = 7\n'));
    await waitFor(() => live.current().daemon.concurrency === 7, { what: 'the renamed file to be loaded' });
    assert.equal(reloadsOf(live), 1);

    // The watch survives the rename: the new file is watched too.
    const quiet = quietAfterChanges(file, 2 * 150);
    for (const concurrency of [8, 9, 10, 11]) await writeFile(file, configText(`[daemon]\nconcurrency = ${concurrency}\n`));
    await waitFor(() => live.current().daemon.concurrency === 11, { what: 'the last write to be loaded' });
    await quiet; // past the debounce of the last change: no late extra reload
    await live.reload('SIGHUP'); // reloads run in order: one started by the watch is done by now
    assert.equal(reloadsOf(live), 3, 'four writes within the debounce make one reload (then the SIGHUP)');
    live.close();
  });

  it('watches the token file named by the config, and stops watching with watch_config = false (SIGHUP still reloads)', async () => {
    const dir = await tempDir('live-tokens');
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, 'first-token-0123456789\n');
    const { file, live } = await liveFromFile(configText(`[http]\nauth_token_file = "${tokens}"\n`), 50);
    assert.deepEqual(live.current().http.auth_tokens, ['first-token-0123456789']);

    await writeFile(tokens, 'first-token-0123456789\n# rotated\nsecond-token-0123456789\n');
    await waitFor(() => live.current().http.auth_tokens.length === 2, { what: 'the token file to be read again' });

    await writeFile(file, configText(`[daemon]\nwatch_config = false\n[http]\nauth_token_file = "${tokens}"\n`));
    await waitFor(() => live.current().daemon.watch_config === false, { what: 'watch_config = false to be loaded' });
    const reloads = reloadsOf(live);
    const quiet = quietAfterChanges(tokens, 2 * 50);
    await writeFile(tokens, 'third-token-0123456789\n');
    await quiet; // past the debounce: a watch still on would have started its reload
    assert.deepEqual(live.current().http.auth_tokens, ['first-token-0123456789', 'second-token-0123456789']);
    await live.reload('SIGHUP');
    assert.equal(reloadsOf(live), reloads + 1, 'no reload while the watch is off, one for the SIGHUP');
    assert.deepEqual(live.current().http.auth_tokens, ['third-token-0123456789']);
    live.close();
  });

  it('watches the sftp secret files named by the config (their keys need a restart)', async () => {
    const dir = await tempDir('live-sftp');
    const key = join(dir, 'id_ed25519');
    await writeFile(key, 'first key\n');
    const { live, lines } = await liveFromFile(configText(`[sftp]\nprivate_key_file = "${key}"\n`), 50);
    assert.equal(live.current().sftp.private_key, 'first key');
    const before = reloadsOf(live);
    await writeFile(key, 'rotated key\n');
    await waitFor(() => reloadsOf(live) > before, { what: 'the key file change to reload the config' });
    assert.deepEqual(live.status().restart_pending, ['sftp.private_key']);
    assert.equal(live.current().sftp.private_key, 'first key', 'the running value is kept until a restart');
    assert.ok(!lines.join('\n').includes('rotated key'), 'the secret is never logged');
    live.close();
  });

  it('select() derives a value once per config', async () => {
    const { file, live } = await liveFromFile(configText('[daemon]\nwatch_config = false\n'));
    let computed = 0;
    const roots = live.select((config) => {
      computed += 1;
      return config.publish.allowed_roots.join(',');
    });
    assert.equal(roots(), '');
    assert.equal(roots(), '');
    assert.equal(computed, 1);
    await writeFile(file, configText('[daemon]\nwatch_config = false\n[publish]\nallowed_roots = ["/srv"]\n'));
    await live.reload('test');
    assert.equal(roots(), '/srv');
    assert.equal(computed, 2);
    live.close();
  });
});

describe('reload policy', () => {
  const base = validateConfig({ storage: { type: 'fs', root: '/x' }, http: { auth_tokens: ['a-token-of-16-chars!'] } });
  const withChange = (section: string, values: Record<string, unknown>): Config =>
    validateConfig({ storage: { type: 'fs', root: '/x' }, http: { auth_tokens: ['a-token-of-16-chars!'] }, [section]: values });

  it('names the keys that need a restart', () => {
    for (const key of [
      'redis.addr',
      'redis.password',
      's3.bucket',
      'sftp.host',
      'sftp.private_key',
      'storage.root',
      'http.addr',
      'http.body_limit_bytes',
    ]) {
      assert.ok(needsRestart(key), key);
    }
    for (const key of ['asynqmon.enabled', 'asynqmon.root_path', 'daemon.role', 'daemon.job_lock_seconds'])
      assert.ok(needsRestart(key), key);
    for (const key of ['daemon.log_level', 'daemon.concurrency', 'http.auth_tokens', 'asynqmon.read_only_mode', 'cache.allowed_prefixes']) {
      assert.ok(!needsRestart(key), key);
    }
    assert.ok(!needsRestart('http.addresses'), 'a prefix of a key name is not the key');
  });

  it('diffs by value, arrays included', () => {
    assert.deepEqual(changedKeys(base, withChange('http', { auth_tokens: ['a-token-of-16-chars!'] })), []);
    assert.deepEqual(changedKeys(base, withChange('http', { auth_tokens: ['another-token-16-chars'] })), ['http.auth_tokens']);
    assert.deepEqual(changedKeys(base, withChange('cache', { allowed_prefixes: ['store/', 'nix/'] })), ['cache.allowed_prefixes']);
  });

  it('hashes equal configs equally and leaves secret values out', () => {
    assert.equal(configHash(base), configHash(withChange('daemon', {})));
    assert.match(configHash(base), /^[0-9a-f]{12}$/);
    assert.notEqual(configHash(base), configHash(withChange('daemon', { concurrency: 3 })));
    assert.equal(configHash(base), configHash(withChange('http', { auth_tokens: ['another-token-16-chars'] })), 'a rotated secret');
  });
});
