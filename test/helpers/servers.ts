/**
 * The one shared test helper for real parts: a real `redis-server` and a real S3 server
 * (s3rver) on free loopback ports, each in its own temporary folder.
 */
import { after, before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { S3Client } from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

class CheckStillRunning extends Error {}

/**
 * Polls `condition` until it returns a truthy value (no fixed sleeps in tests). Fails at the
 * deadline even when a call of `condition` is still running then (a request never answered).
 */
export async function waitFor<T>(
  condition: () => Promise<T> | T,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const what = options.what ?? 'condition';
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      const left = Math.max(deadline - Date.now(), 0) + 1000;
      timer = setTimeout(() => reject(new CheckStillRunning(`timed out waiting for ${what}: its check was still running`)), left);
    });
    try {
      const value = await Promise.race([Promise.resolve().then(condition), late]);
      if (value) return value;
    } catch (error) {
      if (error instanceof CheckStillRunning) throw error;
      last = error;
    } finally {
      clearTimeout(timer);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}

/** Servers started and not exited yet: killed when the test file's process exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A child a failed test never stopped must not keep the test file running until the
 * runner's timeout: it holds no reference on the event loop, and is killed with the file.
 */
export function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.unref();
  return child;
}

/**
 * Resolves with the exit code once the child has exited. Tracked children hold no reference
 * on the event loop, so a timer does while this waits.
 */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1000);
    child.once('exit', (code) => {
      clearInterval(keepAlive);
      resolve(code);
    });
  });
}

export interface RedisServer {
  port: number;
  addr: string;
  dir: string;
  /** Stops the server (SIGTERM; with AOF on, data survives a later start). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

export interface RedisStartOptions {
  appendonly?: boolean;
  /** More `redis-server` arguments (TLS, ACL users, cluster mode...). */
  args?: string[];
  /** Serve TLS on the port (the plain port is then disabled); give cert, key and CA files. */
  tls?: { cert: string; key: string; ca: string };
}

export async function startRedis(options: RedisStartOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sync4loong-redis-'));
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    addr: `127.0.0.1:${port}`,
    dir,
    async start() {
      const listen = options.tls
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key]
        : ['--port', String(port)];
      const tls = options.tls ? ['--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no'] : [];
      child = track(
        spawn(
          'redis-server',
          [
            ...listen,
            ...tls,
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--save',
            '',
            '--appendonly',
            options.appendonly ? 'yes' : 'no',
            '--daemonize',
            'no',
            ...(options.args ?? []),
          ],
          { stdio: 'ignore' },
        ),
      );
      await waitForPort(port);
    },
    async stop() {
      if (child === undefined) return;
      const current = child;
      child = undefined;
      current.kill('SIGTERM');
      await exited(current);
    },
    async destroy() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface S3Server {
  port: number;
  endpoint: string;
  bucket: string;
  dir: string;
  /** An SDK client for assertions (path style, no streaming checksums: s3rver needs both). */
  client: S3Client;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * An SDK client for an s3rver at `endpoint`: path-style, its fixed credentials, and
 * checksums only when required (the SDK's default streaming checksums corrupt objects on it).
 */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Bounded: a request s3rver never answers fails the test instead of hanging it.
    requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
  });
}

export async function startS3(options: { bucket?: string } = {}): Promise<S3Server> {
  const port = await freePort();
  const bucket = options.bucket ?? 'test-bucket';
  const dir = await mkdtemp(join(tmpdir(), 'sync4loong-s3-'));
  const bin = require.resolve('s3rver/bin/s3rver.js');
  let child: ChildProcess | undefined;
  const endpoint = `http://127.0.0.1:${port}`;
  const server: S3Server = {
    port,
    endpoint,
    bucket,
    dir,
    client: s3rverClient(endpoint),
    async start() {
      // --openssl-legacy-provider: s3rver's continuation tokens use a cipher Node 20 dropped.
      child = track(
        spawn(
          process.execPath,
          [
            '--openssl-legacy-provider',
            bin,
            '--directory',
            dir,
            '--port',
            String(port),
            '--address',
            '127.0.0.1',
            '--silent',
            '--no-vhost-buckets',
            '--configure-bucket',
            bucket,
          ],
          { stdio: 'ignore' },
        ),
      );
      await waitForPort(port);
    },
    async stop() {
      if (child === undefined) return;
      const current = child;
      child = undefined;
      current.kill('SIGTERM');
      await exited(current);
    },
    async destroy() {
      server.client.destroy();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface Servers {
  redis: RedisServer;
  s3: S3Server;
}

/**
 * A redis-server and an s3rver for the enclosing `describe`: started together before its
 * tests (handed to `started`), removed after them. With `proxy`, a proxy in front of the
 * s3rver too (`startProxy`, `startFaultProxy`...), closed first.
 */
export function useServers(started: (servers: Servers) => void): void;
export function useServers<P extends { close(): Promise<void> }>(
  started: (servers: Servers & { proxy: P }) => void,
  proxy: (s3Port: number) => Promise<P>,
): void;
export function useServers<P extends { close(): Promise<void> }>(
  started: (servers: Servers & { proxy: P }) => void,
  proxy?: (s3Port: number) => Promise<P>,
): void {
  let servers: (Servers & { proxy?: P }) | undefined;
  before(async () => {
    const [redis, s3] = await Promise.all([startRedis(), startS3()]);
    servers = { redis, s3, proxy: await proxy?.(s3.port) };
    // Without `proxy`, the first signature hands over no proxy: `started` reads none.
    started(servers as Servers & { proxy: P });
  });
  after(async () => {
    await servers?.proxy?.close();
    await Promise.all([servers?.redis.destroy(), servers?.s3.destroy()]);
  });
}
