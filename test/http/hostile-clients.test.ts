/**
 * Hostile clients (issue 17, findings 6-10): deep bodies, cross-site browser requests,
 * slow clients, stream floods, what public routes tell, and the `fs` backend's long names.
 * Each test fails on the daemon before the fix; none waits on a fixed sleep.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, type S3Server, useServers, waitFor } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, request, startApp, tempDir, type TestApp } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';

const TOKEN = 'hostile-clients-token-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const BASIC = { authorization: `Basic ${Buffer.from(`ui:${TOKEN}`).toString('base64')}` };

describe('hostile clients', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  async function start(root: string, overrides: Record<string, Record<string, unknown>> = {}): Promise<TestApp> {
    const bucket = await createBucket(s3);
    return startApp(
      rawConfig(
        redis,
        { ...s3, endpoint: proxy.endpoint },
        {
          ...overrides,
          http: { auth_tokens: [TOKEN], ...overrides.http },
          publish: { allowed_roots: [root], list_remote: false, ...overrides.publish },
        },
        bucket,
      ),
    );
  }

  it('a body nested 400,000 levels deep with an Idempotency-Key is published, not a 500', async () => {
    const root = await realpath(await tempDir('deep'));
    await writeFile(join(root, 'f.txt'), 'x');
    const daemon = await start(root, { http: { body_limit_bytes: 2 * 1024 * 1024 } });
    try {
      const deep = `${'['.repeat(400_000)}${']'.repeat(400_000)}`;
      const body = `[{"from": ${JSON.stringify(join(root, 'f.txt'))}, "to": "deep/f.txt", "extra": ${deep}}]`;
      const headers = { ...BEARER, 'idempotency-key': 'deep-body-1' };
      const first = await request(daemon.url, 'POST', '/publish', body, headers);
      assert.equal(first.status, 200, JSON.stringify(first.body).slice(0, 300));
      const again = await request(daemon.url, 'POST', '/publish', body, headers);
      assert.equal(again.status, 200);
      assert.equal(again.body.batch_id, first.body.batch_id);
    } finally {
      await daemon.close();
    }
  });

  it("refuses a cross-site form post made with the browser's Basic credentials, keeps same-site and token clients working", async () => {
    const root = await realpath(await tempDir('csrf'));
    await writeFile(join(root, 'f.txt'), 'x');
    const daemon = await start(root);
    try {
      const host = new URL(daemon.url).host;
      const crossSite = { ...BASIC, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
      // A form on another site: text/plain, the browser's remembered credentials.
      const clear = await request(daemon.url, 'POST', '/clear-cache', 'x=1', { ...crossSite, 'content-type': 'text/plain' });
      assert.equal(clear.status, 403, JSON.stringify(clear.body));
      assert.match(clear.body.error, /cross-site request refused/);
      const publish = await request(daemon.url, 'POST', '/publish', [{ from: root, to: 'a/' }], crossSite);
      assert.equal(publish.status, 403);
      // No browser headers, Basic credentials, a body that is not JSON: 415.
      const plain = await request(daemon.url, 'POST', '/clear-cache', 'x=1', { ...BASIC, 'content-type': 'text/plain' });
      assert.equal(plain.status, 415);
      // The UI's own page, and clients with a bearer token, still work.
      const own = { ...BASIC, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' };
      assert.equal((await request(daemon.url, 'POST', '/clear-cache', undefined, own)).status, 200);
      assert.equal((await request(daemon.url, 'POST', '/publish', [{ from: root, to: 'b/' }], own)).status, 200);
      const bearer = await request(daemon.url, 'POST', '/clear-cache', 'x=1', { ...BEARER, 'content-type': 'text/plain' });
      assert.equal(bearer.status, 200);
    } finally {
      await daemon.close();
    }
  });

  it('cuts off a body trickled slower than http.request_timeout_seconds', async () => {
    const root = await realpath(await tempDir('slow'));
    const daemon = await start(root, { http: { request_timeout_seconds: 1, header_timeout_seconds: 1 } });
    try {
      const { port } = new URL(daemon.url);
      const socket = connect(Number(port), '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write(
        `POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[`,
      );
      const started = performance.now();
      // The client would send the rest one byte at a time; the server must not wait for it.
      const outcome = await Promise.race([
        closed.then(() => 'closed'),
        waitFor(() => false, { timeoutMs: 15_000, what: 'the connection to be cut' }).catch(() => 'open'),
      ]);
      socket.destroy();
      assert.equal(outcome, 'closed');
      assert.match(answer, /^HTTP\/1\.1 408/);
      assert.ok(performance.now() - started < 10_000, `cut after ${Math.round(performance.now() - started)} ms`);
    } finally {
      await daemon.close();
    }
  });

  it('answers 429 past http.max_event_streams open event streams', async () => {
    const root = await realpath(await tempDir('streams'));
    await writeFile(join(root, 'held.txt'), 'x');
    const daemon = await start(root, { http: { max_event_streams: 2 } });
    let release!: () => void;
    proxy.addRule({ method: 'PUT', key: 'streams/held.txt', hold: new Promise<void>((resolve) => (release = resolve)) });
    const streams: AbortController[] = [];
    try {
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: root, to: 'streams/' }], BEARER);
      assert.equal(reply.status, 200);
      const path = `/batches/${reply.body.batch_id}/events`;
      for (let index = 0; index < 2; index += 1) {
        const controller = new AbortController();
        streams.push(controller);
        const response = await fetch(daemon.url + path, { headers: BEARER, signal: controller.signal });
        assert.equal(response.status, 200);
      }
      const third = await request(daemon.url, 'GET', path, undefined, BEARER);
      assert.equal(third.status, 429);
      assert.match(third.body.error, /too many open event streams \(at most 2\)/);
    } finally {
      for (const controller of streams) controller.abort();
      release();
      await daemon.close();
    }
  });

  it('/readyz without a token says only whether the daemon is ready', async () => {
    const root = await realpath(await tempDir('readyz'));
    const daemon = await start(root);
    try {
      const anonymous = await request(daemon.url, 'GET', '/readyz');
      assert.equal(anonymous.status, 200);
      assert.deepEqual(anonymous.body, { status: 'ready' });
      const known = await request(daemon.url, 'GET', '/readyz', undefined, BEARER);
      assert.deepEqual(known.body.checks, { redis: 'ok', storage: 'ok' });
      assert.ok(known.body.config !== undefined);
    } finally {
      await daemon.close();
    }
  });

  it('a missing path outside the roots answers the same 403 as an existing one', async () => {
    const root = await realpath(await tempDir('oracle-root'));
    const outside = await realpath(await tempDir('oracle-outside'));
    await writeFile(join(outside, 'exists.txt'), 'x');
    const daemon = await start(root);
    try {
      const exists = await request(daemon.url, 'POST', '/publish', [{ from: join(outside, 'exists.txt'), to: 'a' }], BEARER);
      const missing = await request(daemon.url, 'POST', '/publish', [{ from: join(outside, 'missing.txt'), to: 'a' }], BEARER);
      const missingDeeper = await request(daemon.url, 'POST', '/publish', [{ from: join(outside, 'no/such/file'), to: 'a' }], BEARER);
      assert.equal(exists.status, 403);
      assert.equal(missing.status, 403, JSON.stringify(missing.body));
      assert.equal(missingDeeper.status, 403);
      // Inside the roots, a missing path is still told apart.
      const inside = await request(daemon.url, 'POST', '/publish', [{ from: join(root, 'missing.txt'), to: 'a' }], BEARER);
      assert.equal(inside.status, 400);
    } finally {
      await daemon.close();
    }
  });

  it('publish.max_file_bytes skips larger files with the reason, in the reply and the batch', async () => {
    const root = await realpath(await tempDir('max-size'));
    await writeFile(join(root, 'small.txt'), '12345');
    await writeFile(join(root, 'large.bin'), Buffer.alloc(20, 1));
    const daemon = await start(root, { publish: { max_file_bytes: 10 } });
    try {
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: root, to: 'sized/' }], BEARER);
      assert.equal(reply.status, 200);
      assert.equal(reply.body.total_files, 1);
      assert.deepEqual(reply.body.skipped, [{ path: join(root, 'large.bin'), reason: 'larger than publish.max_file_bytes (20 > 10)' }]);
      const batch = await waitForBatch({ get: (path) => request(daemon.url, 'GET', path, undefined, BEARER) }, reply.body.batch_id);
      assert.equal(batch.state, 'done');
      assert.deepEqual(
        (await listKeys(s3, daemon.config.s3.bucket)).filter((key) => key.startsWith('sized/')),
        ['sized/small.txt'],
      );
    } finally {
      await daemon.close();
    }
  });

  it('POST /check with 1,000 uncached keys prints no MaxListenersExceededWarning', async () => {
    const root = await realpath(await tempDir('check'));
    // A loaded machine can take more than the default 5 s for 1,000 HEADs: this is not what is tested.
    const daemon = await start(root, { cache: { s3_timeout_seconds: 300 } });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const keys = Array.from({ length: 1000 }, (_, index) => `store/uncached-${index}.narinfo`);
      const reply = await request(daemon.url, 'POST', '/check', { keys }, BEARER);
      assert.equal(reply.status, 200);
      // Warnings are emitted on the next tick: let one pass through the event loop by a round trip.
      await request(daemon.url, 'GET', '/healthz');
      assert.deepEqual(
        warnings.filter((warning) => warning.includes('MaxListeners')),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      await daemon.close();
    }
  });
});

describe('hostile clients: fs backend', () => {
  let redis: RedisServer;
  useServers((servers) => ({ redis } = servers));

  it('stores a file whose name is 250 bytes long (the temporary keeps within NAME_MAX)', async () => {
    const root = await realpath(await tempDir('long-name'));
    const bucketRoot = await tempDir('bucket');
    const name = `${'n'.repeat(245)}.nar`;
    await mkdir(join(root, 'out'));
    await writeFile(join(root, 'out', name), 'long');
    const daemon = await startApp(
      rawConfig(redis, undefined, { storage: { type: 'fs', root: bucketRoot }, publish: { allowed_roots: [root] } }),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: join(root, 'out'), to: 'out/' }]);
      assert.equal(reply.status, 200);
      const batch = await waitForBatch(daemon, reply.body.batch_id);
      assert.equal(batch.state, 'done', JSON.stringify(batch.failures));
    } finally {
      await daemon.close();
    }
  });
});
