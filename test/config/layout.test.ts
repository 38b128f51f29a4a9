import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { tempDir } from '../helpers/daemon.js';

async function fileWith(text: string): Promise<string> {
  const file = join(await tempDir('cfg-layout'), 'config.toml');
  await writeFile(file, text);
  return file;
}

/** The current Go release's layout, with every key of its structs set (defaults avoided). */
const GO_LAYOUT = `
[redis]
addr = "redis.internal:6380"
password = "go-redis-pw"
db = 4

[storage]
type = "s3"

[storage.s3]
endpoint = "https://s3.go.example"
region = "eu-central-1"
bucket = "go-bucket"
access_key = "GO-AK"
secret_key = "GO-SK"
max_retries = 6
file_upload_retry_count = 4
file_upload_retry_delay_seconds = 7
file_upload_timeout_seconds = 601
enable_integrity_check = false

[storage.sftp]
host = "sftp.go.example"
port = 2222
username = "gouser"
password = "go-sftp-pw"
private_key = "KEY TEXT"
connection_timeout = 45
enable_resume = false

[daemon]
log_level = "warn"
ssh_command = "ssh builder@cache nix-store --import"
ssh_debounce_minutes = 2
ssh_timeout_minutes = 3
enable_ssh_task = true
concurrency = 5

[publish]
max_retry = 6
timeout_minutes = 120

[http]
addr = ":9090"

[cache]
max_concurrent_storage_checks = 17
allowed_prefixes = ["store/", "nix/"]

[asynqmon]
enabled = false
root_path = "/queues"
read_only_mode = true
prometheus_addr = "localhost:9091"
`;

describe('config layouts', () => {
  it('loads the current Go layout, each key with its Go meaning, and says what changed', async () => {
    const { config, unknownKeys, warnings = [] } = loadConfig({ file: await fileWith(GO_LAYOUT), env: {} });
    assert.deepEqual(unknownKeys, []);
    assert.equal(config.storage.type, 's3');
    assert.deepEqual(
      [config.s3.endpoint, config.s3.region, config.s3.bucket, config.s3.access_key, config.s3.secret_key],
      ['https://s3.go.example', 'eu-central-1', 'go-bucket', 'GO-AK', 'GO-SK'],
    );
    assert.deepEqual(
      [config.sftp.host, config.sftp.port, config.sftp.username, config.sftp.password, config.sftp.private_key],
      ['sftp.go.example', 2222, 'gouser', 'go-sftp-pw', 'KEY TEXT'],
    );
    assert.equal(config.sftp.connection_timeout, 45);
    assert.equal(config.sftp.enable_resume, false);
    assert.equal(config.redis.db, 4);
    assert.equal(config.redis.password, 'go-redis-pw');
    assert.equal(config.daemon.concurrency, 5);
    assert.equal(config.daemon.ssh_timeout_minutes, 3);
    assert.equal(config.publish.max_retry, 6);
    assert.equal(config.publish.retry_backoff_seconds, 7, 'file_upload_retry_delay_seconds: first delay, doubling');
    assert.equal(config.publish.timeout_minutes, 11, 'file_upload_timeout_seconds 601 is shorter than 120 minutes, rounded up');
    assert.equal(config.cache.max_concurrent_s3_checks, 17);
    assert.deepEqual(config.cache.allowed_prefixes, ['store/', 'nix/']);
    assert.equal(config.http.addr, ':9090');
    assert.deepEqual(
      [config.asynqmon.enabled, config.asynqmon.root_path, config.asynqmon.read_only_mode, config.asynqmon.prometheus_addr],
      [false, '/queues', true, 'localhost:9091'],
    );
    assert.deepEqual(warnings, [
      's3.max_retries = 6 accepted and unused: single S3 requests are not retried inside an upload; a failed upload is retried as a job (publish.max_retry), and storage outages wait without spending retries',
      's3.file_upload_retry_count = 4 accepted and unused: a failed upload is retried as a job, publish.max_retry times, the first retry after publish.retry_backoff_seconds, doubling',
      's3.enable_integrity_check = false accepted and unused: every upload is verified (Content-MD5 sent, the returned ETag compared), as the Go daemon also ignored this key',
      's3.file_upload_timeout_seconds = 601 read as publish.timeout_minutes = 11 (whole minutes, rounded up; shorter than publish.timeout_minutes = 120)',
    ]);
  });

  it('applies the Go defaults the early design lacked ([storage.s3] region) and takes SYNC4LOONG_STORAGE_S3_*', async () => {
    const file = await fileWith('[storage]\ntype = "s3"\n[storage.s3]\nendpoint = "http://s3.local"\nbucket = "b"\naccess_key = "a"\n');
    const { config } = loadConfig({ file, env: { SYNC4LOONG_STORAGE_S3_SECRET_KEY: 'from-env', SYNC4LOONG_STORAGE_SFTP_PORT: '2200' } });
    assert.equal(config.s3.region, 'us-east-1');
    assert.equal(config.s3.secret_key, 'from-env');
    assert.equal(config.sftp.port, 2200);
    const both = loadConfig({ file, env: { SYNC4LOONG_STORAGE_S3_SECRET_KEY: 'nested', SYNC4LOONG_S3_SECRET_KEY: 'ours' } });
    assert.equal(both.config.s3.secret_key, 'ours', 'SYNC4LOONG_S3_* wins');
  });

  it('takes either name of one setting; when both are set and differ, ours wins with a warning naming both', async () => {
    const file = await fileWith(
      '[storage]\ntype = "s3"\n[storage.s3]\nendpoint = "http://go"\nregion = "r"\nbucket = "b"\naccess_key = "a"\nsecret_key = "s"\n' +
        '[s3]\nendpoint = "http://ours"\nbucket = "b"\n' +
        '[cache]\nmax_concurrent_storage_checks = 3\nmax_concurrent_s3_checks = 4\n' +
        '[publish]\nretry_backoff_seconds = 2\n',
    );
    const { config, warnings = [] } = loadConfig({ file, env: {} });
    assert.equal(config.s3.endpoint, 'http://ours');
    assert.equal(config.s3.region, 'r');
    assert.equal(config.cache.max_concurrent_s3_checks, 4);
    assert.deepEqual(warnings, [
      's3.endpoint and storage.s3.endpoint are both set and differ: s3.endpoint is used',
      'cache.max_concurrent_s3_checks and cache.max_concurrent_storage_checks name one setting and differ: cache.max_concurrent_s3_checks is used',
    ]);
    const alone = loadConfig({
      file: await fileWith('[storage]\ntype = "fs"\nroot = "/x"\n[cache]\nmax_concurrent_storage_checks = 3\n'),
      env: {},
    });
    assert.equal(alone.config.cache.max_concurrent_s3_checks, 3);
    assert.deepEqual(alone.warnings, []);
  });

  it('reads upper-case sections and keys and quoted scalars as Viper did, warning for each', async () => {
    const file = await fileWith(
      '[Redis]\nADDR = "localhost:6390"\ndb = "1"\n[S3]\nEndpoint = "http://s3.local"\nregion = "r"\nbucket = "b"\naccess_key = "a"\nsecret_key = 12345\n' +
        '[Asynqmon]\nEnabled = "false"\n[cache]\nallowed_prefixes = "store/ nix/"\n[daemon]\nconcurrency = "7"\n[STORAGE.S3]\nmax_retries = "2"\n',
    );
    const { config, warnings = [] } = loadConfig({ file, env: {} });
    assert.equal(config.redis.addr, 'localhost:6390');
    assert.equal(config.redis.db, 1);
    assert.equal(config.s3.endpoint, 'http://s3.local');
    assert.equal(config.s3.secret_key, '12345');
    assert.equal(config.asynqmon.enabled, false);
    assert.equal(config.daemon.concurrency, 7);
    assert.deepEqual(config.cache.allowed_prefixes, ['store/', 'nix/']);
    assert.deepEqual(warnings, [
      'config key Redis read as redis (keys are case-insensitive, as in the Go daemon)',
      'config key Redis.ADDR read as redis.addr (keys are case-insensitive, as in the Go daemon)',
      'config key S3 read as s3 (keys are case-insensitive, as in the Go daemon)',
      'config key S3.Endpoint read as s3.endpoint (keys are case-insensitive, as in the Go daemon)',
      'config key Asynqmon read as asynqmon (keys are case-insensitive, as in the Go daemon)',
      'config key Asynqmon.Enabled read as asynqmon.enabled (keys are case-insensitive, as in the Go daemon)',
      'config key STORAGE read as storage (keys are case-insensitive, as in the Go daemon)',
      'config key STORAGE.S3 read as storage.s3 (keys are case-insensitive, as in the Go daemon)',
      's3.max_retries: the value "2" read as 2 (quoted scalar, as Viper did)',
      's3.max_retries = 2 accepted and unused: single S3 requests are not retried inside an upload; a failed upload is retried as a job (publish.max_retry), and storage outages wait without spending retries',
      'redis.db: the value "1" read as 1 (quoted scalar, as Viper did)',
      's3.secret_key: the value 12345 read as "12345" (quoted scalar, as Viper did)',
      'asynqmon.enabled: the value "false" read as false (quoted scalar, as Viper did)',
      'cache.allowed_prefixes: the value "store/ nix/" read as ["store/","nix/"] (quoted scalar, as Viper did)',
      'daemon.concurrency: the value "7" read as 7 (quoted scalar, as Viper did)',
    ]);
  });

  it('keeps a shorter publish.timeout_minutes over file_upload_timeout_seconds, even quoted', async () => {
    const file = await fileWith(
      '[storage]\ntype = "fs"\nroot = "/x"\n[storage.s3]\nfile_upload_timeout_seconds = 14400\n[publish]\ntimeout_minutes = "20"\n',
    );
    const { config, warnings = [] } = loadConfig({ file, env: {} });
    assert.equal(config.publish.timeout_minutes, 20);
    assert.deepEqual(warnings, [
      's3.file_upload_timeout_seconds = 14400 and publish.timeout_minutes = 20 both limit an upload: the shorter, publish.timeout_minutes = 20, is used',
      'publish.timeout_minutes: the value "20" read as 20 (quoted scalar, as Viper did)',
    ]);
  });

  it('refuses what the Go daemon refused in its own keys, and what does not convert', async () => {
    const file = await fileWith(
      '[storage]\ntype = "fs"\nroot = "/x"\n[storage.s3]\nfile_upload_retry_count = 9\nenable_integrity_check = "maybe"\n[redis]\ndb = "one"\n',
    );
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        JSON.stringify(error.problems) ===
          JSON.stringify(['s3.file_upload_retry_count must be an integer from 0 to 5', 's3.enable_integrity_check must be true or false']),
    );
  });

  it('reads /etc/sync4loong/config.toml (here: the default file given) only when nothing names a file', async () => {
    const fallback = await fileWith('[storage]\ntype = "fs"\nroot = "/from-default"\n');
    const named = await fileWith('[storage]\ntype = "fs"\nroot = "/from-named"\n');
    assert.equal(loadConfig({ env: {}, defaultFile: fallback }).config.storage.root, '/from-default');
    assert.equal(loadConfig({ env: { SYNC4LOONG_CONFIG: named }, defaultFile: fallback }).config.storage.root, '/from-named');
    assert.equal(loadConfig({ file: named, env: {}, defaultFile: fallback }).file, named);
    const none = loadConfig({
      env: { SYNC4LOONG_STORAGE_TYPE: 'fs', SYNC4LOONG_STORAGE_ROOT: '/r' },
      defaultFile: '/nonexistent/config.toml',
    });
    assert.equal(none.file, undefined);
  });
});
