import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig, redactConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/daemon.js';

/** A config file written for the Go daemon, in the seed's layout. */
const SEED_CONFIG = `
[redis]
addr = "redis.internal:6379"
password = ""
db = 2

[s3]
endpoint = "https://s3.example.com"
region = "us-east-1"
bucket = "nix4loong"
access_key = "AK"
secret_key = "SK"

[daemon]
log_level = "debug"
ssh_command = "ssh cache 'nix-store --verify'"
ssh_debounce_minutes = 5
ssh_timeout_minutes = 30
enable_ssh_task = true

[publish]
max_retry = 3
timeout_minutes = 30

[http]
addr = ":8080"

[cache]
max_concurrent_s3_checks = 10
allowed_prefixes = ["store/", "nix/"]

[asynqmon]
enabled = true
root_path = "/monitoring"
read_only_mode = false
prometheus_addr = ""
`;

async function fileWith(text: string): Promise<string> {
  const file = join(await tempDir('cfg'), 'config.toml');
  await writeFile(file, text);
  return file;
}

describe('config', () => {
  it('loads a seed config file unchanged', async () => {
    const { config, unknownKeys } = loadConfig({ file: await fileWith(SEED_CONFIG), env: {} });
    assert.deepEqual(unknownKeys, []);
    assert.equal(config.redis.addr, 'redis.internal:6379');
    assert.equal(config.redis.db, 2);
    assert.equal(config.s3.bucket, 'nix4loong');
    assert.equal(config.daemon.ssh_debounce_minutes, 5);
    assert.deepEqual(config.cache.allowed_prefixes, ['store/', 'nix/']);
    assert.equal(config.storage.type, 's3');
    assert.ok(Object.isFrozen(config.redis), 'frozen');
  });

  it('has the seed defaults', () => {
    const { config } = loadConfig({ env: { SYNC4LOONG_STORAGE_TYPE: 'fs', SYNC4LOONG_STORAGE_ROOT: '/srv' } });
    assert.equal(config.redis.addr, 'localhost:6379');
    assert.equal(config.redis.db, 0);
    assert.equal(config.http.addr, ':8080');
    assert.equal(config.daemon.log_level, 'info');
    assert.equal(config.publish.max_retry, 3);
    assert.equal(config.publish.timeout_minutes, 30);
    assert.equal(config.cache.max_concurrent_s3_checks, 10);
    assert.deepEqual(config.cache.allowed_prefixes, ['store/']);
    assert.equal(config.asynqmon.enabled, true);
    assert.equal(config.asynqmon.root_path, '/monitoring');
    assert.equal(config.asynqmon.read_only_mode, false);
    assert.equal(config.redis.key_prefix, 'sync4loong');
    assert.equal(config.s3.force_path_style, true);
    assert.equal(config.s3.request_checksum, 'when_required');
  });

  it('applies env overrides of nested keys with types, and SYNC4LOONG_CONFIG', async () => {
    const file = await fileWith(SEED_CONFIG);
    const { config } = loadConfig({
      env: {
        SYNC4LOONG_CONFIG: file,
        SYNC4LOONG_REDIS_ADDR: 'other:6380',
        SYNC4LOONG_S3_SECRET_KEY: 'from-env',
        SYNC4LOONG_PUBLISH_MAX_RETRY: '0',
        SYNC4LOONG_ASYNQMON_READ_ONLY_MODE: 'true',
        SYNC4LOONG_CACHE_ALLOWED_PREFIXES: 'a/,b/',
        SYNC4LOONG_DAEMON_SSH_DEBOUNCE_MINUTES: '0.05',
      },
    });
    assert.equal(config.redis.addr, 'other:6380');
    assert.equal(config.s3.secret_key, 'from-env');
    assert.equal(config.publish.max_retry, 0);
    assert.equal(config.asynqmon.read_only_mode, true);
    assert.deepEqual(config.cache.allowed_prefixes, ['a/', 'b/']);
    assert.equal(config.daemon.ssh_debounce_minutes, 0.05);
  });

  it('reports every problem at once, by key', async () => {
    const file = await fileWith('[redis]\ndb = 16\n[publish]\ntimeout_minutes = 0\n[daemon]\nlog_level = "loud"\n[storage]\ntype = "fs"\n');
    try {
      loadConfig({ file, env: { SYNC4LOONG_CACHE_MAX_CONCURRENT_S3_CHECKS: 'many' } });
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const text = error.problems.join('\n');
      for (const key of ['redis.db', 'publish.timeout_minutes', 'daemon.log_level', 'storage.root', 'cache.max_concurrent_s3_checks']) {
        assert.match(text, new RegExp(`^${key.replace('.', '\\.')}`, 'm'));
      }
    }
  });

  it('names the line of a TOML syntax error and reports unknown keys', async () => {
    assert.throws(() => loadConfig({ file: '/nonexistent.toml', env: {} }), /cannot read config file \/nonexistent\.toml: ENOENT/);
    const broken = await fileWith('[redis]\naddr = \n');
    assert.throws(() => loadConfig({ file: broken, env: {} }), /not valid TOML at line 2/);
    const unknown = await fileWith('[storage]\ntype = "fs"\nroot = "/x"\nfoo = 1\n[extra]\na = 1\n');
    assert.deepEqual(loadConfig({ file: unknown, env: {} }).unknownKeys, ['storage.foo', 'extra']);
  });

  it('redacts secrets', async () => {
    const { config } = loadConfig({ file: await fileWith(SEED_CONFIG), env: { SYNC4LOONG_REDIS_PASSWORD: 'pw123456' } });
    const redacted = redactConfig(config);
    assert.equal(redacted.redis.password, '********');
    assert.equal(redacted.s3.secret_key, '********');
    assert.equal(config.s3.secret_key, 'SK', 'the original is untouched');
  });
});
