import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { startProxy, type Proxy } from './proxy.js';
import { waitFor } from './servers.js';

describe('test proxy helper', () => {
  let target: Server;
  let proxy: Proxy;
  before(async () => {
    target = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => response.writeHead(201, { 'x-echo': request.url ?? '' }).end(`${request.method} ${body}`));
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
    const address = target.address();
    proxy = await startProxy(typeof address === 'object' && address !== null ? address.port : 0);
  });
  after(async () => {
    await proxy.close();
    await new Promise((resolve) => target.close(resolve));
  });

  it('forwards requests and records them in order', async () => {
    proxy.reset();
    const put = await fetch(`${proxy.endpoint}/bucket/a?x=1`, { method: 'PUT', body: 'data' });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('x-echo'), '/bucket/a?x=1');
    assert.equal(await put.text(), 'PUT data');
    await fetch(`${proxy.endpoint}/bucket/b`, { method: 'HEAD' });
    await fetch(`${proxy.endpoint}/other/c`);
    assert.deepEqual(
      proxy.requests.map((r) => [r.method, r.path, r.status]),
      [
        ['PUT', '/bucket/a?x=1', 201],
        ['HEAD', '/bucket/b', 201],
        ['GET', '/other/c', 201],
      ],
    );
    assert.ok(proxy.requests.every((r, i) => r.endTime! >= r.time && (i === 0 || r.time >= proxy.requests[i - 1]!.time)));
    assert.equal(proxy.count('*'), 3);
    assert.equal(proxy.count('HEAD'), 1);
    assert.equal(proxy.count('*', '/bucket/'), 2);
  });

  it('delays requests and tracks how many are in flight', async () => {
    proxy.reset();
    proxy.delay = (request) => (request.path.endsWith('slow') ? 150 : 0);
    try {
      const started = performance.now();
      await Promise.all([fetch(`${proxy.endpoint}/slow`), fetch(`${proxy.endpoint}/slow`), fetch(`${proxy.endpoint}/fast`)]);
      assert.ok(performance.now() - started >= 140);
      assert.equal(proxy.maxInFlight, 3);
      assert.equal(proxy.inFlight, 0);
    } finally {
      proxy.delay = 0;
    }
  });

  it('hangs or refuses on demand', async () => {
    proxy.mode = 'hang';
    await assert.rejects(fetch(`${proxy.endpoint}/x`, { signal: AbortSignal.timeout(200) }), /abort|timeout/i);
    assert.equal(proxy.requests.at(-1)!.mode, 'hang');
    proxy.mode = 'refuse';
    await assert.rejects(fetch(`${proxy.endpoint}/y`), /fetch failed/);
    proxy.mode = 'pass';
    assert.equal((await fetch(`${proxy.endpoint}/z`)).status, 201);
  });

  it('goes down, dropping requests in flight and refusing connections, and comes back on its port', async () => {
    proxy.mode = 'hang';
    const held = fetch(`${proxy.endpoint}/held`);
    try {
      await waitFor(() => proxy.inFlight === 1, { what: 'the request to be held' });
      await proxy.down();
      await assert.rejects(held, /fetch failed/);
      await assert.rejects(fetch(`${proxy.endpoint}/down`), (error: Error) => (error.cause as { code?: string }).code === 'ECONNREFUSED');
    } finally {
      proxy.mode = 'pass';
      await proxy.up();
    }
    assert.equal((await fetch(`${proxy.endpoint}/up`)).status, 201);
  });
});
