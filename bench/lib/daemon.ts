/**
 * The daemon as users run it: `node bin/sync4loong daemon --config <toml>` in its own
 * process, storage s3 on s3rver, log level warn. The harness watches its queue through
 * a BullMQ `Queue` opened with the same prefix (job counts, pause), never by sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { freePort, waitFor } from '../../test/helpers/servers.js';
import type { BenchServers } from './servers.js';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Must match `UPLOAD_QUEUE` in src/queue/jobs.ts (not imported, so bench/ stays a black-box user). */
const UPLOAD_QUEUE = 'uploads';

export interface DaemonOptions {
  bucket: string;
  /** `[daemon] concurrency`; the config default when undefined. */
  concurrency?: number | undefined;
  /** Extra node flags (`--cpu-prof`, `--import <preload>`). */
  nodeFlags?: string[];
  env?: Record<string, string>;
  /** Where the daemon's stdout/stderr go. */
  logFile: string;
  workDir: string;
  /** Pause the queue before the daemon starts (its workers then never take a job). */
  paused?: boolean;
  /** Wait for `/readyz` (Redis and storage reachable), as a service manager would, not only `/healthz`. */
  ready?: boolean;
  /** Config keys set on top of the generated ones (`{ s3: { multipart_threshold_mb: 1024 } }`). */
  config?: ConfigOverrides;
}

export type ConfigOverrides = Record<string, Record<string, string | number | boolean>>;

/** Parses `daemon@s3.multipart_threshold_mb=1024+daemon.concurrency=64` style contender names. */
export function parseDaemonVariant(contender: string): ConfigOverrides | undefined {
  if (contender === 'daemon') return {};
  if (!contender.startsWith('daemon@')) return undefined;
  const overrides: ConfigOverrides = {};
  for (const setting of contender.slice('daemon@'.length).split('+')) {
    const match = /^([a-z0-9_]+)\.([a-z0-9_]+)=(.*)$/.exec(setting);
    if (!match) throw new Error(`bad daemon setting ${setting}: expected section.key=value`);
    const raw = match[3]!;
    const value = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    (overrides[match[1]!] ??= {})[match[2]!] = value;
  }
  return overrides;
}

export interface RunningDaemon {
  pid: number;
  url: string;
  prefix: string;
  queue: Queue;
  /** POSTs /publish and resolves with the reply (status, body, seconds it took). */
  publish(items: unknown): Promise<{ status: number; body: any; seconds: number }>;
  /**
   * Resolves once the batch has an outcome for every file (`GET /batches/{id}` finished),
   * with the daemon's own `finished_at` (ms since the epoch: free of the polling's 20 ms).
   */
  waitBatchDone(batchId: string, timeoutMs: number): Promise<{ uploaded: number; skipped: number; failed: number; finishedAt: number }>;
  stop(): Promise<number | null>;
}

function toml(values: ConfigOverrides): string {
  return Object.entries(values)
    .map(
      ([section, keys]) =>
        `[${section}]\n${Object.entries(keys)
          .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
          .join('\n')}\n`,
    )
    .join('\n');
}

/**
 * Daemon options that turn every probe on: a V8 CPU profile into `profileDir` and the
 * counting preload (bench/profile/preload.ts), which writes its report to `output`.
 */
export function profiling(servers: BenchServers, profileDir: string, output: string): Pick<DaemonOptions, 'nodeFlags' | 'env'> {
  return {
    nodeFlags: [
      '--cpu-prof',
      '--cpu-prof-dir',
      profileDir,
      '--import',
      pathToFileURL(join(projectRoot, 'dist', 'bench', 'profile', 'preload.js')).href,
    ],
    env: { BENCH_REDIS_PORT: String(servers.redis.port), BENCH_PROFILE_OUT: output },
  };
}

export async function startDaemon(servers: BenchServers, options: DaemonOptions): Promise<RunningDaemon> {
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const httpPort = await freePort();
  const configFile = join(options.workDir, `daemon-${prefix}.toml`);
  const values: ConfigOverrides = {
    redis: { addr: `127.0.0.1:${servers.redis.port}`, key_prefix: prefix },
    s3: {
      endpoint: servers.s3.endpoint,
      region: 'us-east-1',
      bucket: options.bucket,
      access_key: servers.s3.accessKey ?? 'S3RVER',
      secret_key: servers.s3.secretKey ?? 'S3RVER',
      request_checksum: 'when_required',
    },
    daemon: { log_level: 'warn', ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}) },
    http: { addr: `127.0.0.1:${httpPort}` },
  };
  for (const [section, keys] of Object.entries(options.config ?? {})) values[section] = { ...values[section], ...keys };
  await writeFile(configFile, toml(values));
  const queue = new Queue(UPLOAD_QUEUE, { connection: { host: '127.0.0.1', port: servers.redis.port }, prefix });
  if (options.paused) await queue.pause();

  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), join(projectRoot, 'bin', 'sync4loong'), 'daemon', '--config', configFile],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: options.workDir },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode} (see ${options.logFile})`);
        return (await fetch(`${url}/${options.ready ? 'readyz' : 'healthz'}`)).ok;
      },
      { timeoutMs: 30_000, what: `daemon to answer /${options.ready ? 'readyz' : 'healthz'}` },
    );
  } catch (error) {
    child.kill('SIGKILL');
    await queue.close();
    throw error;
  }

  return {
    pid: child.pid!,
    url,
    prefix,
    queue,
    async publish(items) {
      const started = performance.now();
      const response = await fetch(`${url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(items),
      });
      const text = await response.text();
      const seconds = (performance.now() - started) / 1000;
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { status: response.status, body, seconds };
    },
    async waitBatchDone(batchId, timeoutMs) {
      const done = await waitFor(
        async () => {
          const response = await fetch(`${url}/batches/${batchId}`);
          const batch = (await response.json()) as {
            finished_at?: string | null;
            uploaded_files: number;
            skipped_files: number;
            failed_files: string[];
          };
          if (!response.ok || !batch.finished_at) return undefined;
          return {
            uploaded: batch.uploaded_files,
            skipped: batch.skipped_files,
            failed: batch.failed_files.length,
            finishedAt: Date.parse(batch.finished_at),
          };
        },
        { timeoutMs, intervalMs: 20, what: `batch ${batchId} to finish` },
      );
      return done!;
    },
    async stop() {
      await queue.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exit;
      clearTimeout(timer);
      log.end();
      await rm(configFile, { force: true });
      return code;
    },
  };
}
