/**
 * Ceph's RADOS Gateway as a second, real S3 server for the tests: a throwaway one-node
 * cluster (one ceph-mon, one ceph-osd on memstore, no mgr) and radosgw (beast) on a free
 * loopback port, every file in one temporary folder (Debian packages ceph-mon, ceph-osd,
 * radosgw; `scripts/ensure-system-deps.sh` installs them).
 *
 * Started ONCE per test run: it takes ~20 s, and node's test runner runs each file in its
 * own process (Node 20 has no global setup). `scripts/test.sh` runs
 * `node dist/test/helpers/rgw.js up DIR` before the runner (the daemons are detached and
 * outlive that command), exports what it prints (RGW_ENDPOINT, keys, ...) to every test
 * file, and `down DIR` after. A test file calls `useRgw()`: it reads those variables,
 * and each test creates its own bucket. A file run alone, without them, starts a cluster
 * of its own for the file when the packages are there; without the packages its RGW tests
 * are skipped with the reason (`rgwSkip`), which the runner shows.
 *
 * Facts that make it work (measured; ../../../shared/tools/rgw.sh has the same in bash):
 * auth off needs `ms_mon_client_mode = crc` or radosgw cannot reach the monitor; pool size
 * 1; short PG logs or the memstore OSD grows ~75 MiB per 2,000 PUTs.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, waitFor } from './servers.js';
import type { S3Server } from './servers.js';

const run = promisify(execFile);

export interface RgwInfo {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  dir: string;
  /** PIDs of ceph-mon, ceph-osd and radosgw. */
  pids: { mon: number; osd: number; rgw: number };
}

const ACCESS_KEY = 'RGWTESTACCESS';
const SECRET_KEY = 'RGWTESTSECRET';
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];

/** Why RGW tests cannot run here, or undefined when they can. */
export function rgwSkip(): string | undefined {
  if (process.env.RGW_ENDPOINT) return undefined;
  if (process.env.SYNC4LOONG_TEST_RGW === '0') return 'RGW tests turned off (SYNC4LOONG_TEST_RGW=0)';
  const path = (process.env.PATH ?? '').split(':');
  const missing = BINARIES.filter((bin) => !path.some((folder) => existsSync(join(folder, bin))));
  return missing.length === 0 ? undefined : `RGW not installed (missing ${missing.join(', ')}: apt-get install ceph-mon ceph-osd radosgw)`;
}

function conf(dir: string, fsid: string, mon2: number, mon1: number, port: number): string {
  return `[global]
fsid = ${fsid}
mon_host = [v2:127.0.0.1:${mon2},v1:127.0.0.1:${mon1}]
public_addr = 127.0.0.1
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = ${dir}/keyring
run_dir = ${dir}/run
crash_dir = ${dir}/crash
log_to_file = false
log_file =
err_to_stderr = true
mon_cluster_log_file = ${dir}/log/cluster.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1

[mon]
log_to_file = true
log_file = ${dir}/log/$name.log
mon_data = ${dir}/mon/$name

[osd]
log_to_file = true
log_file = ${dir}/log/$name.log
osd_data = ${dir}/osd/$name
osd_objectstore = memstore
memstore_device_bytes = ${8192 * 1024 * 1024}
# every write appends a PG log entry, and memstore keeps them in RAM
osd_min_pg_log_entries = 100
osd_max_pg_log_entries = 500
osd_target_pg_log_entries_per_osd = 10000
osd_pg_log_dups_tracked = 500
osd_pg_log_trim_min = 50

[client.rgw]
log_to_file = true
log_file = ${dir}/log/$name.log
rgw_data = ${dir}/rgw
rgw_frontends = beast endpoint=127.0.0.1:${port}
# radosgw defaults to ms_mon_client_mode = secure, which needs cephx: with auth off the
# monitor connection fails ("get_initial_auth_request returned -13") unless crc is allowed
ms_mon_client_mode = crc
rgw_thread_pool_size = 128
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
`;
}

/** Starts a daemon detached (it outlives this process), output to `log`; returns its PID. */
async function daemon(command: string, args: string[], log: string): Promise<number> {
  const out = await open(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out.fd, out.fd] });
  child.unref();
  await out.close();
  if (child.pid === undefined) throw new Error(`${command} did not start`);
  return child.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits for `check` while `pid` lives; on failure, the error carries the tail of `log`. */
async function ready(what: string, pid: number, log: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(
    async () => {
      if (!alive(pid)) throw new Error(`${what} exited`);
      return check().catch(() => false);
    },
    { timeoutMs: 120_000, intervalMs: 250, what },
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- ${log}:\n${tail(log)}`);
  });
}

/** Starts a cluster in a fresh folder under `parent` (default: the temp folder). */
export async function startRgw(parent = tmpdir()): Promise<RgwInfo> {
  const dir = await mkdtemp(join(parent, 'sync4loong-rgw-'));
  for (const sub of ['log', 'run', 'crash', 'mon', 'osd/osd.0', 'rgw']) await mkdir(join(dir, sub), { recursive: true });
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [port, mon2, mon1] = [...ports] as [number, number, number];
  const fsid = randomUUID();
  const osdUuid = randomUUID();
  const c = ['-c', join(dir, 'ceph.conf')];
  await writeFile(join(dir, 'ceph.conf'), conf(dir, fsid, mon2, mon1, port));
  const pids = { mon: 0, osd: 0, rgw: 0 };
  const info: RgwInfo = { endpoint: `http://127.0.0.1:${port}`, port, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, dir, pids };
  const ceph = (...args: string[]) => run('ceph', [...c, '--connect-timeout', '10', ...args]);
  try {
    await run('ceph-authtool', ['--create-keyring', join(dir, 'keyring'), '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await run('monmaptool', [
      '--create',
      '--clobber',
      '--fsid',
      fsid,
      '--addv',
      'a',
      `[v2:127.0.0.1:${mon2},v1:127.0.0.1:${mon1}]`,
      join(dir, 'monmap'),
    ]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', join(dir, 'keyring')]);
    pids.mon = await daemon('ceph-mon', [...c, '-f', '-i', 'a'], join(dir, 'log', 'mon.a.out'));
    await ready('ceph-mon', pids.mon, join(dir, 'log', 'mon.a.log'), async () => (await ceph('mon', 'stat'), true));

    const id = (await ceph('osd', 'new', osdUuid)).stdout.trim();
    if (id !== '0') throw new Error(`'ceph osd new' gave '${id}'`);
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    pids.osd = await daemon('ceph-osd', [...c, '-f', '-i', '0'], join(dir, 'log', 'osd.0.out'));
    await ready('ceph-osd', pids.osd, join(dir, 'log', 'osd.0.log'), async () =>
      (await ceph('osd', 'dump')).stdout.includes('\nosd.0 up '),
    );

    pids.rgw = await daemon('radosgw', [...c, '-f', '-n', 'client.rgw'], join(dir, 'log', 'client.rgw.out'));
    await ready('radosgw', pids.rgw, join(dir, 'log', 'client.rgw.log'), async () => (await fetch(info.endpoint)).ok);
    await run('radosgw-admin', [
      ...c,
      'user',
      'create',
      '--uid=test',
      '--display-name=test',
      `--access-key=${ACCESS_KEY}`,
      `--secret-key=${SECRET_KEY}`,
    ]);
    // The first bucket, object and multipart upload create their pools (1-2 s each): done
    // here, so no test's timing pays for them.
    const client = rgwClient(info);
    try {
      await ready('a signed S3 request', pids.rgw, join(dir, 'log', 'client.rgw.log'), async () => {
        await client.send(new CreateBucketCommand({ Bucket: 'warm-up' }));
        return true;
      });
      const { PutObjectCommand, CreateMultipartUploadCommand, AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
      await client.send(new PutObjectCommand({ Bucket: 'warm-up', Key: 'x', Body: 'x' }));
      const upload = await client.send(new CreateMultipartUploadCommand({ Bucket: 'warm-up', Key: 'y' }));
      await client.send(new AbortMultipartUploadCommand({ Bucket: 'warm-up', Key: 'y', UploadId: upload.UploadId }));
    } finally {
      client.destroy();
    }
    await writeFile(join(dir, 'rgw.json'), JSON.stringify(info));
    return info;
  } catch (error) {
    await stopRgw(info, { keep: true });
    throw new Error(`RGW did not come up (logs kept in ${dir}/log): ${(error as Error).message}`);
  }
}

/** Stops exactly the daemons `startRgw` started (TERM, then KILL after 10 s), and removes the folder. */
export async function stopRgw(info: RgwInfo, options: { keep?: boolean } = {}): Promise<void> {
  for (const pid of [info.pids.rgw, info.pids.osd, info.pids.mon]) {
    if (pid === 0 || !ours(pid, info.dir)) continue;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), { timeoutMs: 10_000, intervalMs: 50, what: `PID ${pid} to exit` }).catch(() => {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
  }
  if (!options.keep) await rm(info.dir, { recursive: true, force: true });
}

/** PID is a live ceph daemon reading this cluster's ceph.conf (never someone else's process). */
function ours(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(join(dir, 'ceph.conf'));
  } catch {
    return false;
  }
}

/** An SDK client for assertions: path style, checksums only when required (RGW refuses aws-chunked trailers). */
export function rgwClient(info: Pick<RgwInfo, 'endpoint' | 'accessKey' | 'secretKey'>): S3Client {
  return new S3Client({
    endpoint: info.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: info.accessKey, secretAccessKey: info.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
  });
}

/** The run's RGW, from the variables `scripts/test.sh` exports; undefined when there are none. */
export function rgwFromEnv(): RgwInfo | undefined {
  const env = process.env;
  if (!env.RGW_ENDPOINT) return undefined;
  return {
    endpoint: env.RGW_ENDPOINT,
    port: Number(new URL(env.RGW_ENDPOINT).port),
    accessKey: env.RGW_ACCESS_KEY ?? ACCESS_KEY,
    secretKey: env.RGW_SECRET_KEY ?? SECRET_KEY,
    dir: env.RGW_DIR ?? '',
    pids: { mon: 0, osd: 0, rgw: 0 },
  };
}

/**
 * The run's RGW as an `S3Server` (what `rawConfig`, `createBucket`, `getObject` take),
 * with a bucket of its own. It cannot be stopped from a test: put a proxy in front for
 * outages. `rgwConfig` gives the `[s3]` keys a daemon needs for it.
 */
export function rgwAsS3Server(info: RgwInfo, bucket: string): S3Server {
  const client = rgwClient(info);
  return {
    port: info.port,
    endpoint: info.endpoint,
    bucket,
    dir: info.dir,
    client,
    async start() {},
    async stop() {
      throw new Error('the shared RGW cannot be stopped by a test: put a fault proxy in front of it');
    },
    async destroy() {
      client.destroy();
    },
  };
}

/** `[s3]` overrides for a daemon talking to RGW (through `endpoint`, a proxy's maybe). */
export function rgwConfig(info: RgwInfo, endpoint = info.endpoint): Record<string, unknown> {
  return { endpoint, access_key: info.accessKey, secret_key: info.secretKey };
}

/**
 * The run's RGW for the enclosing `describe` (handed to `started`): the shared one of
 * `scripts/test.sh`, or one of the file's own when the file runs alone. Call only when
 * `rgwSkip()` is undefined.
 */
export function useRgw(started: (info: RgwInfo) => void): void {
  let own: RgwInfo | undefined;
  before(async () => {
    const shared = rgwFromEnv();
    if (shared === undefined) own = await startRgw();
    started(shared ?? own!);
  });
  after(async () => {
    if (own !== undefined) await stopRgw(own);
  });
}

// `node dist/test/helpers/rgw.js up PARENT` starts a cluster under PARENT and prints its
// variables as shell assignments; `down DIR` stops the one in DIR (its rgw.json). The test
// runner, which runs every file under dist/test/, passes no arguments: nothing happens then.
const mainArgs =
  process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href ? process.argv.slice(2) : [];
if (mainArgs.length > 0) {
  const [command, folder] = mainArgs;
  if (command === 'up') {
    const started = Date.now();
    const info = await startRgw(folder);
    process.stderr.write(`RGW up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${info.endpoint} (${info.dir})\n`);
    process.stdout.write(
      `RGW_ENDPOINT=${info.endpoint}\nRGW_ACCESS_KEY=${info.accessKey}\nRGW_SECRET_KEY=${info.secretKey}\nRGW_DIR=${info.dir}\n`,
    );
  } else if (command === 'down' && folder !== undefined) {
    await stopRgw(JSON.parse(await readFile(join(folder, 'rgw.json'), 'utf8')) as RgwInfo);
  } else {
    process.stderr.write('usage: rgw.js up [PARENT] | down DIR\n');
    process.exitCode = 2;
  }
}
