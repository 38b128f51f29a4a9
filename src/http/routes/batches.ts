import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../../errors.js';
import { followBatch, isBatchId, type BatchProgress, type BatchResult } from '../../batches/index.js';

export interface BatchRoutesDeps {
  batches: {
    result(id: string): Promise<BatchResult | undefined>;
    progress(id: string): Promise<BatchProgress | undefined>;
  };
  /** How often an event stream looks at the batch's counters. */
  pollIntervalMs?: number;
  /** Comment lines on idle streams, so proxies keep them open. */
  heartbeatMs?: number;
  /** `http.max_event_streams`: past this many open streams, a new one is answered 429. */
  maxStreams?: () => number;
  /** Hears each event stream open and close (the open-streams gauge). */
  streams?: { opened(): void; closed(): void };
}

function batchIdOf(request: FastifyRequest): string {
  const { id } = request.params as { id?: unknown };
  if (!isBatchId(id)) throw errors.invalidBatchId();
  return id;
}

/** Redis failures answer 503, as `/publish` does, never a 500. */
async function fromRedis<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch {
    throw errors.queueUnavailable();
  }
}

/**
 * `GET /batches/{id}`: the seed's `SyncResult` of one publish, live while it runs.
 * `GET /batches/{id}/events`: the same as Server-Sent Events: `progress` events when the
 * counters change, then one `result` event with the full result, then the stream closes.
 */
export function registerBatchRoutes(app: FastifyInstance, deps: BatchRoutesDeps): void {
  const pollIntervalMs = deps.pollIntervalMs ?? 300;
  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const openStreams = new Set<() => void>();
  // Streams never end by themselves while a batch runs: end them so the server can close.
  app.addHook('preClose', async () => {
    for (const end of [...openStreams]) end();
  });

  app.get('/batches/:id', async (request) => {
    const id = batchIdOf(request);
    const result = await fromRedis(deps.batches.result(id));
    if (result === undefined) throw errors.batchNotFound(id);
    return result;
  });

  app.get('/batches/:id/events', async (request, reply) => {
    const id = batchIdOf(request);
    const maxStreams = deps.maxStreams?.() ?? 100;
    if (openStreams.size >= maxStreams) throw errors.tooManyEventStreams(maxStreams);
    if ((await fromRedis(deps.batches.progress(id))) === undefined) throw errors.batchNotFound(id);
    // Counted again: others may have opened while Redis answered.
    if (openStreams.size >= maxStreams) throw errors.tooManyEventStreams(maxStreams);

    // The SSE framing is three lines per event; written by hand on the raw response.
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) => {
      if (!raw.writableEnded) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const follower = followBatch(
      deps.batches,
      id,
      {
        progress: (progress) => send('progress', progress),
        result: (result) => send('result', result),
        gone: () => send('error', { error: `batch not found: ${id} (expired)` }),
      },
      { intervalMs: pollIntervalMs },
    );
    const heartbeat = setInterval(() => {
      if (!raw.writableEnded) raw.write(': keep-alive\n\n');
    }, heartbeatMs);
    const end = () => {
      follower.stop();
      clearInterval(heartbeat);
      if (openStreams.delete(end)) deps.streams?.closed();
      if (!raw.writableEnded) raw.end();
    };
    openStreams.add(end);
    deps.streams?.opened();
    raw.once('close', end); // the client went away
    void follower.done.then(end);
  });
}
