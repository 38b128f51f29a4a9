/**
 * `GET /batches/{id}/events` on a real Redis batch store: idle streams get `: keep-alive`
 * comments, and a batch that expires while followed ends the stream with an `error` event.
 * The route is mounted with a short heartbeat and poll (the daemon's are 15 s and 300 ms).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createBatchStore, newBatchId } from '../../src/batches/index.js';
import { registerBatchRoutes } from '../../src/http/index.js';
import { startRedis, type RedisServer } from '../helpers/servers.js';
import { uniqueName } from '../helpers/daemon.js';

describe('batch event streams', () => {
  let server: RedisServer;
  let redis: Redis;
  let http: FastifyInstance;
  let url: string;
  const store = () => createBatchStore({ redis }, { prefix: uniqueName('ev'), ttlSeconds: 1 });
  let batches: ReturnType<typeof store>;

  before(async () => {
    server = await startRedis();
    redis = new Redis({ port: server.port });
    batches = store();
    http = Fastify();
    registerBatchRoutes(http, { batches, heartbeatMs: 100, pollIntervalMs: 50 });
    url = await http.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await http.close();
    await redis.quit();
    await server.destroy();
  });

  it('sends keep-alive comments on an idle stream and an error event when the batch expires', async () => {
    const id = newBatchId();
    // A running batch (no outcome recorded) whose keys expire after 1 s.
    await batches.create(id, [{ from: '/src', to: 'store/' }]);
    const started = Date.now();
    const response = await fetch(`${url}/batches/${id}/events`, { signal: AbortSignal.timeout(15_000) });
    assert.equal(response.status, 200);
    const text = await response.text(); // the stream ends after the error event
    const blocks = text.split('\n\n').filter((block) => block !== '');
    // A keep-alive may come before the first event when Redis is slow to answer.
    const events = blocks.filter((block) => block.startsWith('event: '));
    assert.match(events[0]!, /^event: progress\ndata: \{.*"finished":false/);
    const keepAlives = blocks.filter((block) => block === ': keep-alive');
    assert.ok(keepAlives.length >= 3, `keep-alive comments while idle: ${keepAlives.length} in ${Date.now() - started} ms`);
    assert.equal(blocks.at(-1), `event: error\ndata: {"error":"batch not found: ${id} (expired)"}`);
    assert.equal(events.length, 2, 'one progress event (nothing changed), then the error');
    assert.ok(Date.now() - started >= 900, 'ended by the expiry, not before');
  });
});
