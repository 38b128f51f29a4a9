import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventSourceParserStream } from 'eventsource-parser/stream';
import { startRedis, useServers, waitFor, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { waitForBatch } from '../helpers/batches.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';

function files(count: number, prefix = 'f'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, index) => [`${prefix}${index}.txt`, `content ${index}`]));
}

async function readEvents(url: string, signal?: AbortSignal): Promise<Array<{ event: string; data: any }>> {
  return followEvents(url, signal).all;
}

/** An event stream read as it comes: `first` resolves on its first event, `all` when it ends. */
function followEvents(url: string, signal?: AbortSignal) {
  let seen: () => void = () => undefined;
  const first = new Promise<void>((resolve) => (seen = resolve));
  const all = (async () => {
    const response = await fetch(url, { signal });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events: Array<{ event: string; data: any }> = [];
    const stream = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    for await (const message of stream) {
      events.push({ event: message.event ?? 'message', data: JSON.parse(message.data) });
      seen();
    }
    return events;
  })();
  // A stream that fails before its first event fails `first` too.
  return { first: Promise.race([first, all.then(() => undefined)]), all };
}

describe('batches', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  it('counts exactly with retries and two daemons sharing the queue', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { ...files(40), 'sub/flaky.txt': 'fails once', 'sub/broken.txt': 'fails always' });
    proxy.addRule({ method: 'PUT', key: 'retry/sub/flaky.txt', fail: 403, times: 1 });
    proxy.addRule({ method: 'PUT', key: 'retry/sub/broken.txt', fail: 403 });
    const raw = rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { publish: { max_retry: 2, retry_backoff_seconds: 0.1 } }, bucket);
    const first = await startApp(raw);
    const second = await startApp(raw);
    try {
      const reply = await first.post('/publish', [{ from: src, to: 'retry/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.success, true);
      assert.match(reply.body.batch_id, /^[0-9a-f-]{36}$/);
      assert.equal(reply.body.total_files, 42);

      // Either daemon answers for the batch: the state lives in Redis.
      const result = await waitForBatch(second, reply.body.batch_id);
      assert.equal(result.state, 'failed');
      assert.equal(result.total_files, 42);
      assert.equal(result.uploaded_files, 41, 'the flaky file counts once, as uploaded');
      assert.equal(result.skipped_files, 0);
      assert.deepEqual(result.failed_files, ['retry/sub/broken.txt']);
      assert.match(result.failures[0].reason, /Access Denied|AccessDenied|injected fault/);
      assert.deepEqual(result.items, [
        { from: src, to: 'retry/', total_files: 42, uploaded_files: 41, skipped_files: 0, failed_files: ['retry/sub/broken.txt'] },
      ]);
      assert.match(result.duration, /^(\d+(\.\d+)?(ms|s)|\d+m\d+(\.\d+)?s)$/);
      assert.ok(result.finished_at >= result.created_at);
      assert.equal(proxy.log.filter((entry) => entry.method === 'PUT' && entry.key === 'retry/sub/flaky.txt').length, 2);
      assert.equal(proxy.log.filter((entry) => entry.method === 'PUT' && entry.key === 'retry/sub/broken.txt').length, 3);
      assert.equal((await listKeys(s3, bucket)).length, 41);

      // Publishing again: everything is skipped (same size), the broken file fails again.
      const again = await second.post('/publish', [{ from: src, to: 'retry/' }]);
      const rerun = await waitForBatch(first, again.body.batch_id);
      assert.notEqual(again.body.batch_id, reply.body.batch_id);
      assert.deepEqual(
        [rerun.total_files, rerun.uploaded_files, rerun.skipped_files, rerun.failed_files],
        [42, 0, 41, ['retry/sub/broken.txt']],
      );
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('answers a running batch live, and 400/404 for bad or unknown ids', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, files(6));
    proxy.addRule({ method: 'PUT', key: /^live\//, delayMs: 400 });
    const daemon = await startApp(rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 2 } }, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'live/' }]);
      const running = await waitFor(async () => {
        const state = await daemon.get(`/batches/${reply.body.batch_id}`);
        return state.body.state === 'running' ? state.body : undefined;
      });
      assert.equal(running.total_files, 6);
      assert.equal(running.finished_at, null);
      assert.ok(running.uploaded_files < 6);
      const done = await waitForBatch(daemon, reply.body.batch_id);
      assert.equal(done.state, 'done');
      assert.equal(done.uploaded_files, 6);

      const unknown = await daemon.get('/batches/00000000-0000-4000-8000-000000000000');
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.error, /batch not found/);
      for (const bad of ['nope', '..%2F..%2Fetc', `${reply.body.batch_id}x`]) {
        const garbage = await daemon.get(`/batches/${bad}`);
        assert.equal(garbage.status, 400, bad);
        assert.match(garbage.body.error, /invalid batch id/);
        assert.equal((await daemon.get(`/batches/${bad}/events`)).status, 400);
      }
      assert.equal((await daemon.get('/batches/00000000-0000-4000-8000-000000000000/events')).status, 404);
    } finally {
      await daemon.close();
    }
  });

  it('streams progress as Server-Sent Events, ending with the full result', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, files(8));
    proxy.addRule({ method: 'PUT', key: /^sse\//, delayMs: 250 });
    const daemon = await startApp(rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 2 } }, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'sse/' }]);
      const events = await readEvents(`${daemon.url}/batches/${reply.body.batch_id}/events`);
      const last = events.at(-1)!;
      assert.equal(last.event, 'result', 'the stream ends with the result, then closes');
      assert.deepEqual({ ...last.data, duration: '' }, { ...(await daemon.get(`/batches/${reply.body.batch_id}`)).body, duration: '' });
      assert.equal(last.data.uploaded_files, 8);
      const progress = events.slice(0, -1);
      assert.ok(progress.length >= 3, `several progress events (${progress.length})`);
      assert.ok(progress.every((event) => event.event === 'progress'));
      const processed = progress.map((event) => event.data.processed_files);
      assert.deepEqual(
        processed,
        [...processed].sort((a, b) => a - b),
        'processed_files never goes back',
      );
      assert.equal(new Set(processed.map(String)).size, processed.length, 'an event only when counters change');
      assert.equal(progress.at(-1)!.data.finished, true);

      // A finished batch: one progress event and the result at once.
      const replay = await readEvents(`${daemon.url}/batches/${reply.body.batch_id}/events`);
      assert.deepEqual(
        replay.map((event) => event.event),
        ['progress', 'result'],
      );
    } finally {
      await daemon.close();
    }
  });

  it('stays exact across a Redis restart in the middle of a batch', async () => {
    const persistent = await startRedis({ appendonly: true });
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, files(24));
    proxy.addRule({ method: 'PUT', key: /^outage\//, delayMs: 150 });
    const daemon = await startApp(
      rawConfig(persistent, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 4, job_lock_seconds: 2 } }, bucket),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'outage/' }]);
      await waitFor(async () => (await daemon.get(`/batches/${reply.body.batch_id}`)).body.uploaded_files >= 4);
      await persistent.stop();
      // Restarted once the daemon has seen Redis gone (its readiness probe fails on it).
      await waitFor(async () => (await daemon.get('/readyz')).status === 503, { what: 'the daemon to see Redis down' });
      await persistent.start();
      const result = await waitForBatch(daemon, reply.body.batch_id, 90_000);
      assert.equal(result.state, 'done');
      assert.equal(result.total_files, 24);
      assert.deepEqual(result.failed_files, []);
      // A job whose completion was lost runs again and finds its file: it may count as
      // skipped instead of uploaded, but every file counts exactly once.
      assert.equal(result.uploaded_files + result.skipped_files, 24);
      assert.equal((await listKeys(s3, bucket)).length, 24);
    } finally {
      await daemon.close();
      await persistent.destroy();
    }
  });

  it('ends open event streams on client disconnect and on shutdown', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, files(3));
    proxy.addRule({ method: 'PUT', key: /^slow\//, delayMs: 3000 });
    const daemon = await startApp(rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 1 } }, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'slow/' }]);
      const url = `${daemon.url}/batches/${reply.body.batch_id}/events`;
      const openStreams = async () => {
        const families = parsePrometheusText((await daemon.get('/metrics')).body as string);
        return sampleValue(families, 'sync4loong_event_streams_open');
      };
      assert.equal(await openStreams(), 0);

      // The server follows the batch for a client until it goes away.
      const aborted = new AbortController();
      const gone = followEvents(url, aborted.signal);
      await gone.first;
      assert.equal(await openStreams(), 1);
      aborted.abort();
      assert.equal(await gone.all.catch((error: Error) => error.name), 'AbortError');
      await waitFor(async () => (await openStreams()) === 0, { timeoutMs: 10_000, what: 'the server to end the stream of a client gone' });

      const open = followEvents(url);
      await open.first;
      assert.equal(await openStreams(), 1);
      const started = Date.now();
      await daemon.close();
      const events = await open.all;
      assert.ok(Date.now() - started < 10_000);
      assert.ok(events.length >= 1 && events.every((event) => event.event === 'progress'), 'the stream was cut, not finished');
    } finally {
      await daemon.close();
    }
  });
});
