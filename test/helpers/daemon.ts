/**
 * Starts the real daemon against the real servers of `servers.ts`: in-process (`startApp`,
 * the real HTTP server on port 0) or as a child process (`startDaemonProcess`, for
 * signals and restarts). Every call gets its own Redis key prefix and bucket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createApp, type App } from '../../src/app.js';
import { validateConfig, toToml, type Config } from '../../src/config/index.js';
import { createLogger, silentLogger, type Logger } from '../../src/log/index.js';
import type { RedisServer, S3Server } from './servers.js';
import { exited, freePort, track, waitFor } from './servers.js';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

type RawConfig = { [section: string]: Record<string, unknown> };

export function uniqueName(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

/**
 * rawConfig's `http.addr`: in-process apps listen on a port of their own instead, and
 * `startDaemonProcess` picks a free one.
 */
const UNPICKED_HTTP_ADDR = '127.0.0.1:8080';

/** A raw config for the given servers, merged with overrides (section by section). */
export function rawConfig(redis: RedisServer, s3: S3Server | undefined, overrides: RawConfig = {}, bucket?: string): RawConfig {
  const base: RawConfig = {
    redis: { addr: redis.addr, key_prefix: uniqueName('t') },
    s3: s3 ? { endpoint: s3.endpoint, region: 'us-east-1', bucket: bucket ?? s3.bucket, access_key: 'S3RVER', secret_key: 'S3RVER' } : {},
    daemon: { log_level: process.env.TEST_LOG_LEVEL ?? 'error', concurrency: 8 },
    publish: { retry_backoff_seconds: 0.2 },
    http: { addr: UNPICKED_HTTP_ADDR },
  };
  for (const [section, values] of Object.entries(overrides)) base[section] = { ...base[section], ...values };
  return base;
}

/** Creates a fresh bucket on the S3 server and returns its name. */
export async function createBucket(s3: S3Server): Promise<string> {
  const bucket = uniqueName('b');
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

export interface TestApp {
  app: App;
  config: Config;
  url: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  /** Resolves once no upload job is waiting, delayed or running. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function testLogger(): Logger {
  return process.env.TEST_LOG_LEVEL ? createLogger({ level: process.env.TEST_LOG_LEVEL }) : silentLogger();
}

export async function startApp(raw: RawConfig): Promise<TestApp> {
  const config = validateConfig(raw);
  const app = createApp(config, { log: testLogger(), listen: { host: '127.0.0.1', port: 0 } });
  await app.start();
  return {
    app,
    config,
    url: app.url,
    post: (path, body, headers) => request(app.url, 'POST', path, body, headers),
    get: (path) => request(app.url, 'GET', path),
    idle: (timeoutMs) => queueIdle(app, timeoutMs),
    close: () => app.close(),
  };
}

/** A request the daemon leaves unanswered fails after this, naming itself, instead of holding its test until the runner's timeout. */
const REQUEST_TIMEOUT_MS = 120_000;

export async function request(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  let text: string;
  let response: Response;
  try {
    response = await fetch(base + path, init);
    text = await response.text();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    throw error;
  }
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed as any };
}

export async function queueIdle(app: App, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const counts = await app.uploads.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      return Object.values(counts).every((count) => count === 0);
    },
    { timeoutMs, what: 'upload queue to drain' },
  );
}

/** Writes files (relative path → content) below `root`, creating folders. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

export async function tempDir(label = 'src'): Promise<string> {
  return mkdtemp(join(tmpdir(), `sync4loong-${label}-`));
}

export async function getObject(s3: S3Server, bucket: string, key: string): Promise<{ body: Buffer; contentType: string | undefined }> {
  const reply = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = await reply.Body!.transformToByteArray();
  return { body: Buffer.from(bytes), contentType: reply.ContentType };
}

export async function headObject(s3: S3Server, bucket: string, key: string): Promise<{ size: number; etag: string } | null> {
  try {
    const reply = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: reply.ContentLength ?? 0, etag: (reply.ETag ?? '').replace(/"/g, '') };
  } catch {
    return null;
  }
}

export async function listKeys(s3: S3Server, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return keys.sort();
}

export interface DaemonProcess {
  child: ChildProcess;
  url: string;
  /** The config file the daemon was started with (rewrite it to test reloads). */
  configFile: string;
  output(): string;
  /**
   * Sends a signal and resolves with the exit code. A daemon still running `withinMs`
   * later (default 90 s: past its 60 s shutdown timeout) is killed, and the stop fails with
   * the end of its output.
   */
  stop(signal?: NodeJS.Signals, withinMs?: number): Promise<number | null>;
}

/**
 * Starts several daemon processes at once; when one fails to start, those that did are
 * stopped before the error is thrown.
 */
export async function startDaemonProcesses(raws: RawConfig[]): Promise<DaemonProcess[]> {
  const started = await Promise.allSettled(raws.map((raw) => startDaemonProcess(raw)));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed === undefined) return started.map((result) => (result as PromiseFulfilledResult<DaemonProcess>).value);
  await Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.stop('SIGKILL') : undefined)));
  throw (failed as PromiseRejectedResult).reason;
}

/**
 * Runs `bin/sync4loong daemon --config FILE` as a child and waits for "daemon started".
 * Unless the test chose `http.addr`, a free port is picked and written into `raw.http.addr`
 * (so a rewritten config keeps it); when another process takes that port before the daemon
 * binds it, another is picked.
 */
export async function startDaemonProcess(raw: RawConfig, env: Record<string, string> = {}): Promise<DaemonProcess> {
  const pick = [undefined, UNPICKED_HTTP_ADDR].includes(raw.http?.addr as string | undefined) && env.SYNC4LOONG_HTTP_ADDR === undefined;
  for (let attempt = 1; ; attempt += 1) {
    if (pick) raw.http = { ...raw.http, addr: `127.0.0.1:${await freePort()}` };
    try {
      return await launchDaemon(raw, env);
    } catch (error) {
      if (!pick || attempt === 3 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

async function launchDaemon(raw: RawConfig, env: Record<string, string>): Promise<DaemonProcess> {
  const dir = await tempDir('cfg');
  const file = join(dir, 'config.toml');
  // The helper reads the "daemon started" line, so the child logs at info at least.
  const withInfo = { ...raw, daemon: { ...raw.daemon, log_level: process.env.TEST_LOG_LEVEL ?? 'info' } };
  await writeFile(file, toToml(withInfo as unknown as Config));
  return startDaemonWith(['daemon', '--config', file], { configFile: file, env });
}

/**
 * Runs `bin/sync4loong ARGS` as a child (a daemon reading `configFile`, already written,
 * which must log at info at least) and waits for "daemon started".
 */
export async function startDaemonWith(
  args: string[],
  options: { configFile: string; env?: Record<string, string> },
): Promise<DaemonProcess> {
  const { configFile: file, env = {} } = options;
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'sync4loong'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  (child.stdout as Socket).unref();
  (child.stderr as Socket).unref();
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = () => exited(child);
  let addr: string | undefined;
  try {
    addr = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${output}`);
        return /msg="daemon started" addr=(\S+)/.exec(output)?.[1];
      },
      { timeoutMs: 20_000, what: 'daemon to start' },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = addr!.slice(addr!.lastIndexOf(':') + 1);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    configFile: file,
    output: () => output,
    async stop(signal = 'SIGTERM', withinMs = 90_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), withinMs)));
      try {
        const code = await Promise.race([exit(), late]);
        if (code !== 'late') return code;
      } finally {
        clearTimeout(timer);
      }
      child.kill('SIGKILL');
      await exit();
      throw new Error(`daemon still running ${withinMs} ms after ${signal}, killed; its output ends:\n${output.slice(-4000)}`);
    },
  };
}

/**
 * Runs `bin/sync4loong ARGS` to its end (a client command: publish, check, scrub), without the
 * runner's own SYNC4LOONG_URL / _TOKEN / _CONFIG, plus `env`. Killed after `timeoutMs`.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = { ...process.env };
  for (const name of ['SYNC4LOONG_URL', 'SYNC4LOONG_TOKEN', 'SYNC4LOONG_CONFIG']) delete base[name];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'sync4loong'), ...args], {
      env: { ...base, ...options.env },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
