/**
 * The Go daemon's config files and command line, run as the Go daemon's service units
 * ran them: `sync4loong --config FILE` (and Go's `-config=FILE`), as a process, against
 * a real Redis (with a password) and a real S3 server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startRedis, startS3, waitFor, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, getObject, projectRoot, request, startDaemonWith, tempDir, writeTree } from '../helpers/daemon.js';

const REDIS_PASSWORD = 'go-layout-redis-pw';

/** The current Go release's layout, every key of its structs set to a value other than its default. */
function goLayout(redis: RedisServer, s3: S3Server, bucket: string, port: number): string {
  return `
[redis]
addr = "${redis.addr}"
password = "${REDIS_PASSWORD}"
db = 5

[storage]
type = "s3"

[storage.s3]
endpoint = "${s3.endpoint}"
region = "eu-west-3"
bucket = "${bucket}"
access_key = "S3RVER"
secret_key = "S3RVER"
max_retries = 5
file_upload_retry_count = 4
file_upload_retry_delay_seconds = 7
file_upload_timeout_seconds = 900
enable_integrity_check = false

[storage.sftp]
host = "sftp.invalid"
port = 2222
username = "nobody"
password = "unused-sftp-pw"
private_key = "unused key text"
connection_timeout = 12
enable_resume = false

[daemon]
log_level = "debug"
ssh_command = "ssh builder@cache.invalid nix-store --import | logger"
ssh_debounce_minutes = 30
ssh_timeout_minutes = 2
enable_ssh_task = true
concurrency = 2

[publish]
max_retry = 5
timeout_minutes = 45

[http]
addr = "127.0.0.1:${port}"

[cache]
max_concurrent_storage_checks = 4
allowed_prefixes = ["nix/", "store/"]

[asynqmon]
enabled = false
root_path = "/queues"
read_only_mode = true
prometheus_addr = "127.0.0.1:9"
`;
}

/** The early design's layout, every key set to a value other than its default. */
function seedLayout(redis: RedisServer, s3: S3Server, bucket: string, port: number): string {
  return `
[redis]
addr = "${redis.addr}"
password = "${REDIS_PASSWORD}"
db = 6

[s3]
endpoint = "${s3.endpoint}"
region = "ap-east-1"
bucket = "${bucket}"
access_key = "S3RVER"
secret_key = "S3RVER"

[daemon]
log_level = "debug"
ssh_command = "ssh cache.invalid 'nix-store --verify'"
ssh_debounce_minutes = 30
ssh_timeout_minutes = 3
enable_ssh_task = true

[publish]
max_retry = 6
timeout_minutes = 50

[http]
addr = "127.0.0.1:${port}"

[cache]
max_concurrent_s3_checks = 3
allowed_prefixes = ["nix/", "store/"]

[asynqmon]
enabled = false
root_path = "/queues"
read_only_mode = true
prometheus_addr = "127.0.0.1:9"
`;
}

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [join(projectRoot, 'bin', 'sync4loong'), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("the Go daemon's command line", () => {
  /** A config that fails validation: reaching the daemon's config check proves the route taken, before any server is needed. */
  async function badConfig(): Promise<string> {
    const file = join(await tempDir('cfg-go-flags'), 'config.toml');
    await writeFile(file, '[storage]\ntype = "s3"\n[storage.s3]\nbucket = "b"\n[redis]\ndb = 99\n');
    return file;
  }

  for (const form of ['--config F', '-config F', '--config=F', '-config=F']) {
    it(`\`sync4loong ${form}\` runs the daemon (its config check answers, not the usage)`, async () => {
      const file = await badConfig();
      const args = form.includes('=') ? [form.replace('F', file)] : [form.split(' ')[0]!, file];
      const result = cli(args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^invalid configuration:/);
      assert.match(result.stderr, /redis\.db/);
      assert.match(result.stderr, /s3\.endpoint is required when storage\.type is "s3"/);
      assert.doesNotMatch(result.stderr + result.stdout, /Usage:/);
    });
  }

  it("`-help` prints the usage, as Go's flag package did", () => {
    const result = cli(['-help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /sync4loong --config FILE/);
  });

  it('plain `sync4loong` runs the daemon when SYNC4LOONG_CONFIG names a file, and prints the usage without any', async () => {
    const file = await badConfig();
    const named = cli([], { SYNC4LOONG_CONFIG: file });
    assert.equal(named.code, 2);
    assert.match(named.stderr, /^invalid configuration:/);
    // Assumes no /etc/sync4loong/config.toml on the test machine (the Go default path).
    const none = cli([], { SYNC4LOONG_CONFIG: '' });
    assert.equal(none.code, 2);
    assert.match(none.stdout, /Usage:/);
  });

  it('loads storage.type = "sftp" in the Go layout and prints it as our [sftp] section', async () => {
    const file = join(await tempDir('cfg-go-sftp'), 'config.toml');
    await writeFile(file, '[storage]\ntype = "sftp"\n[storage.sftp]\nhost = "sftp.invalid"\nusername = "u"\nprivate_key = "k"\n');
    const printed = cli(['config', '--config', file]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /\[sftp\]\nhost = "sftp\.invalid"\nport = 22\n/);
    assert.match(printed.stdout, /\[storage\]\ntype = "sftp"\n/);
  });
});

describe('the Go daemon as a drop-in', () => {
  let redis: RedisServer;
  let s3: S3Server;
  before(async () => {
    [redis, s3] = await Promise.all([startRedis({ args: ['--requirepass', REDIS_PASSWORD] }), startS3()]);
  });
  after(async () => {
    await Promise.all([redis?.destroy(), s3?.destroy()]);
  });

  async function publishesWith(args: (file: string) => string[], layout: typeof goLayout) {
    const bucket = await createBucket(s3);
    const port = await freePort();
    const file = join(await tempDir('cfg-go'), 'config.toml');
    await writeFile(file, layout(redis, s3, bucket, port));
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'StorePath: /nix/store/a', 'nar/a.nar': 'nar bytes' });
    const daemon = await startDaemonWith(args(file), { configFile: file });
    try {
      assert.equal(daemon.url, `http://127.0.0.1:${port}`);
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: 'store/go' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      // Read until the content is there: s3rver may show a key before its body is written.
      const nar = await waitFor(async () => (await getObject(s3, bucket, 'store/go/nar/a.nar').catch(() => undefined))?.body.toString(), {
        what: 'the NAR in the bucket',
      });
      assert.equal(nar, 'nar bytes');
      assert.equal((await getObject(s3, bucket, 'store/go/a.narinfo')).body.toString(), 'StorePath: /nix/store/a');
      const check = await request(daemon.url, 'GET', '/check/store/go/a.narinfo');
      assert.equal(check.body.exists, true);
      assert.equal((await request(daemon.url, 'GET', '/check/other/x')).status, 400, 'allowed_prefixes of the file');
      return { daemon, file };
    } catch (error) {
      await daemon.stop('SIGKILL');
      throw error;
    }
  }

  it('`sync4loong --config F` runs a config in the current Go layout (every key set) and publishes a folder', async () => {
    const { daemon, file } = await publishesWith((file) => ['--config', file], goLayout);
    assert.equal(await daemon.stop(), 0);
    const log = daemon.output();
    for (const key of [
      's3.max_retries = 5 accepted and unused',
      's3.file_upload_retry_count = 4 accepted and unused',
      's3.enable_integrity_check = false accepted and unused',
      's3.file_upload_timeout_seconds = 900 read as publish.timeout_minutes = 15',
      'daemon.ssh_command contains shell syntax (\\"|\\")',
    ]) {
      assert.ok(log.includes(key), `logs ${key}:\n${log.slice(0, 3000)}`);
    }
    const printed = cli(['config', '-config', file]);
    assert.equal(printed.code, 0, printed.stderr);
    for (const line of [
      '[s3]',
      'region = "eu-west-3"',
      'db = 5',
      'port = 2222',
      'connection_timeout = 12',
      'enable_resume = false',
      'concurrency = 2',
      'max_retry = 5',
      'timeout_minutes = 15',
      'retry_backoff_seconds = 7',
      'max_concurrent_s3_checks = 4',
      'root_path = "/queues"',
    ]) {
      assert.ok(printed.stdout.split('\n').includes(line), `prints ${line}`);
    }
    assert.doesNotMatch(printed.stdout, /\[storage\.s3\]|max_concurrent_storage_checks|unused-sftp-pw|go-layout-redis-pw/);
    assert.match(printed.stderr, /warning: s3\.max_retries = 5 accepted and unused/);
  });

  it('`sync4loong -config=F` runs a config in the early design layout (every key set) and publishes a folder', async () => {
    const { daemon } = await publishesWith((file) => [`-config=${file}`], seedLayout);
    assert.equal(await daemon.stop(), 0);
    assert.doesNotMatch(daemon.output(), /config warning|unknown config keys/);
  });
});
