/**
 * A Redis that accepts connections but never answers: a TCP proxy in front of the real
 * redis-server starts holding every byte the daemon sends. `/publish` answers 503 within
 * its enqueue bound (15 s), `/check` falls back to S3 after 1 s, `/metrics` still answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { useServers, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, rawConfig, startDaemonProcess, tempDir, writeTree, type DaemonProcess } from '../helpers/daemon.js';

/** Forwards TCP to `port` until `hold()`: from then on, what clients send is kept, never forwarded. */
async function startHoldingProxy(port: number) {
  let holding = false;
  let held = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => (holding ? (held += chunk.length) : upstream.write(chunk)));
    upstream.on('data', (chunk) => client.write(chunk));
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(socket);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    addr: `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
    hold: () => (holding = true),
    /** Forwards again; the connections that held bytes are cut (the daemon reconnects). */
    release() {
      holding = false;
      for (const socket of sockets) socket.destroy();
    },
    /** Bytes the daemon sent since `hold()`. */
    held: () => held,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function timed(url: string, init: RequestInit = {}) {
  const started = performance.now();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(25_000) });
    const text = await response.text();
    return { status: response.status, text, ms: performance.now() - started };
  } catch (error) {
    return { status: 0, text: `no answer: ${(error as Error).message}`, ms: performance.now() - started };
  }
}

describe('a Redis that never answers', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: Awaited<ReturnType<typeof startHoldingProxy>>;
  let daemon: DaemonProcess;
  let bucket: string;
  let src: string;
  useServers((servers) => ({ redis, s3 } = servers));
  before(async () => {
    proxy = await startHoldingProxy(redis.port);
    bucket = await createBucket(s3);
    src = await tempDir();
    await writeTree(src, { 'b.narinfo': 'b' });
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'store/a.narinfo', Body: 'aaaa' }));
    // A process: its connections to a Redis that never answered cannot be closed cleanly, so it is killed after.
    daemon = await startDaemonProcess(rawConfig({ ...redis, addr: proxy.addr }, s3, { publish: { allowed_roots: [src] } }, bucket));
  });
  after(async () => {
    await daemon.stop('SIGKILL');
    await proxy.close();
  });

  it('keeps /publish at 503 within its bound, /check on its 1 s fallback and /metrics answering', async () => {
    assert.equal((await timed(`${daemon.url}/check/store/a.narinfo`)).status, 200, 'answers through the proxy before it holds');
    proxy.hold();
    const [publish, check, metrics] = await Promise.all([
      timed(`${daemon.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ from: src, to: 'store/' }]),
      }),
      timed(`${daemon.url}/check/store/a.narinfo`),
      timed(`${daemon.url}/metrics`),
    ]);
    assert.ok(proxy.held() > 0, 'the daemon did send commands into the void');

    assert.equal(publish.status, 503, publish.text);
    assert.match(JSON.parse(publish.text).error, /queue unavailable/);
    assert.ok(publish.ms < 17_000, `/publish answered within its 15 s bound (${Math.round(publish.ms)} ms)`);

    assert.equal(check.status, 200, check.text);
    assert.deepEqual(
      (({ exists, cached, size }) => ({ exists, cached, size }))(JSON.parse(check.text)),
      { exists: true, cached: false, size: 4 },
      'answered from S3',
    );
    assert.ok(check.ms >= 900 && check.ms < 3000, `/check waited its 1 s for Redis, no more (${Math.round(check.ms)} ms)`);

    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /sync4loong_files_total\{outcome="uploaded"\} 0/);
    assert.ok(metrics.ms < 5000, `/metrics answered (${Math.round(metrics.ms)} ms)`);
  });
});
