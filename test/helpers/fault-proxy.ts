/**
 * A fault-injecting HTTP reverse proxy for tests: put it between the daemon and a real S3
 * server (s3rver) to keep an ORDERED log of every request (when it started, when its
 * reply was complete), and to make chosen requests slow or fail, without mocking any
 * client.
 *
 *   const proxy = await startFaultProxy(s3.port);
 *   rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, ...)
 *   proxy.addRule({ method: 'PUT', key: /\/nar\//, delayMs: 300 });           // slow NARs
 *   proxy.addRule({ method: 'PUT', key: 'store/x.txt', fail: 403, times: 1 }); // fails once
 *   proxy.addRule({ method: 'HEAD', key: 'store/x.txt', hold: released });      // waits for the test
 *   proxy.addRule({ key: 'store/y', fail: 429, code: 'TooManyRequests', headers: { 'retry-after': '2' }, times: 1 });
 *   const limit = proxy.limitRate({ perSecond: 20 });  // 503 SlowDown above 20 requests/s
 *   limit.remove();
 *   proxy.puts()   // PUTs, in order of arrival, each with `startSeq` / `endSeq`
 */
import { Agent, createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface LoggedRequest {
  method: string;
  /** Object key (path-style URL: `/<bucket>/<key>`), decoded; '' for bucket-level requests. */
  key: string;
  /** Position in the proxy's event sequence when the request arrived (no two events tie). */
  startSeq: number;
  /** Position when its reply was complete (undefined while in flight). */
  endSeq?: number;
  /** `performance.now()` at arrival and at completion. */
  startTime: number;
  endTime?: number;
  /** Status answered to the client. */
  status?: number;
  /** Whether a rule failed it (it never reached the S3 server). */
  injected: boolean;
}

export interface FaultRule {
  /** Method to match (any when omitted). */
  method?: string;
  /** Exact key, or a pattern tested against the key. */
  key: string | RegExp;
  /** Hold matching requests this long before forwarding them. */
  delayMs?: number;
  /** Hold matching requests until this settles, then forward them (a point where the test acts while the daemon waits). */
  hold?: Promise<unknown>;
  /** Answer matching requests with this status (an S3 XML error), never forwarding them. */
  fail?: number;
  /** The S3 error code of a `fail` answer (default AccessDenied). */
  code?: string;
  /** Extra headers of a `fail` answer (`retry-after`). */
  headers?: Record<string, string>;
  /** Apply to this many matching requests only (default: all). */
  times?: number;
}

/**
 * A storage that throttles: above `perSecond` requests forwarded in the last second (a
 * sliding window), matching requests are answered 503 SlowDown (S3's answer) or, with
 * `status: 429`, 429 TooManyRequests (R2, B2), with `retryAfter` as `Retry-After` if given.
 */
export interface RateRule {
  perSecond: number;
  status?: 503 | 429;
  retryAfter?: string;
  method?: string;
  /** Keys it applies to (default: every request, bucket-level ones too). */
  key?: string | RegExp;
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  readonly log: LoggedRequest[];
  addRule(rule: FaultRule): void;
  /** Starts throttling (RateRule); `remove()` stops it. Checked before the other rules. */
  limitRate(rule: RateRule): { remove(): void };
  /** Successful PUTs of objects, in order of arrival. */
  puts(): LoggedRequest[];
  close(): Promise<void>;
}

function keyOf(url: string): string {
  const path = url.split('?', 1)[0] ?? '';
  const segments = path.split('/').slice(2); // '', bucket, key...
  return decodeURIComponent(segments.join('/'));
}

function matches(rule: FaultRule & { used: number }, method: string, key: string): boolean {
  if (rule.times !== undefined && rule.used >= rule.times) return false;
  if (rule.method !== undefined && rule.method !== method) return false;
  return typeof rule.key === 'string' ? rule.key === key : rule.key.test(key);
}

/** Answers an S3 XML error once the request's body was read. */
function answerError(
  incoming: IncomingMessage,
  outgoing: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string>,
  finish: (status: number) => void,
): void {
  incoming.resume();
  incoming.once('end', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    outgoing.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...headers });
    outgoing.end(body, () => finish(status));
  });
}

export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const rules: Array<FaultRule & { used: number }> = [];
  const rateRules = new Set<RateRule & { forwarded: number[] }>();
  const log: LoggedRequest[] = [];
  let seq = 0;

  const server = createServer((incoming, outgoing) => void handle(incoming, outgoing));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const method = incoming.method ?? 'GET';
    const entry: LoggedRequest = {
      method,
      key: keyOf(incoming.url ?? '/'),
      startSeq: ++seq,
      startTime: performance.now(),
      injected: false,
    };
    log.push(entry);
    const finish = (status: number) => {
      entry.status = status;
      entry.endSeq ??= ++seq;
      entry.endTime ??= performance.now();
    };
    for (const rate of rateRules) {
      if (!matches({ ...rate, key: rate.key ?? /(?:)/, used: 0 }, method, entry.key)) continue;
      const now = performance.now();
      while (rate.forwarded.length > 0 && rate.forwarded[0]! <= now - 1000) rate.forwarded.shift();
      if (rate.forwarded.length < rate.perSecond) {
        rate.forwarded.push(now);
        continue;
      }
      const status = rate.status ?? 503;
      const code = status === 429 ? 'TooManyRequests' : 'SlowDown';
      const headers: Record<string, string> = rate.retryAfter === undefined ? {} : { 'retry-after': rate.retryAfter };
      answerError(incoming, outgoing, status, code, 'Please reduce your request rate.', headers, finish);
      entry.injected = true;
      return;
    }
    const rule = rules.find((candidate) => matches(candidate, method, entry.key));
    if (rule !== undefined) rule.used += 1;
    if (rule?.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, rule.delayMs));
    if (rule?.hold !== undefined) await rule.hold.catch(() => undefined);
    if (rule?.fail !== undefined) {
      entry.injected = true;
      answerError(incoming, outgoing, rule.fail, rule.code ?? 'AccessDenied', 'injected fault', rule.headers ?? {}, finish);
      return;
    }
    const upstream = forward(
      { host: '127.0.0.1', port: targetPort, method, path: incoming.url, headers: incoming.headers, agent },
      (reply) => {
        outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.on('error', () => outgoing.destroy()); // cut short upstream: cut short here
        reply.pipe(outgoing);
        reply.once('end', () => finish(reply.statusCode ?? 502));
      },
    );
    upstream.once('error', () => {
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end();
      finish(502);
    });
    incoming.on('error', () => upstream.destroy()); // the client gave up mid-request
    incoming.pipe(upstream);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    log,
    addRule(rule) {
      rules.push({ ...rule, used: 0 });
    },
    limitRate(rule) {
      const entry = { ...rule, forwarded: [] as number[] };
      rateRules.add(entry);
      return { remove: () => void rateRules.delete(entry) };
    },
    puts() {
      return log.filter((entry) => entry.method === 'PUT' && entry.key !== '' && !entry.injected && entry.status === 200);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
