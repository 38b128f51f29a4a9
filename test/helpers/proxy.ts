/**
 * A counting HTTP reverse proxy for tests: put it between the daemon and a real server
 * (s3rver) to see every request the daemon makes, in order, and to make that server slow,
 * hung or unreachable on demand, without mocking any client.
 *
 *   const proxy = await startProxy(s3.port);
 *   rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, ...)
 *   proxy.count('HEAD', `/${bucket}/store/`)   // HEADs under a key prefix
 *   proxy.mode = 'hang'                        // requests are never answered
 */
import { Agent, createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** `pass` forwards; `hang` never answers (those requests stay open until the client gives up, or `close`); `refuse` closes the socket. */
export type ProxyMode = 'pass' | 'hang' | 'refuse';

export interface ProxiedRequest {
  method: string;
  /** Path and query as sent (`/bucket/store/x.narinfo`). */
  path: string;
  /** `performance.now()` when the request arrived. */
  time: number;
  /** `performance.now()` when the reply was complete, or the socket closed. */
  endTime?: number;
  /** Status forwarded to the client; undefined for hung or refused requests. */
  status?: number;
  /** The mode the request met. */
  mode: ProxyMode;
}

export interface Proxy {
  /** `http://127.0.0.1:port`, to use as `s3.endpoint`. */
  endpoint: string;
  port: number;
  /** Every request, in arrival order. */
  readonly requests: ProxiedRequest[];
  /** Requests with this method (any, when `*`) whose path starts with `pathPrefix`. */
  count(method: string, pathPrefix?: string): number;
  /** How the next requests are treated; may be changed at any time. */
  mode: ProxyMode;
  /** Milliseconds to hold each passed request before forwarding it (a number, or per request). */
  delay: number | ((request: ProxiedRequest) => number);
  /** Requests received and not yet finished. */
  readonly inFlight: number;
  /** The most requests in flight at once since start (or `reset`). */
  readonly maxInFlight: number;
  /** Forgets recorded requests and the in-flight maximum. */
  reset(): void;
  /**
   * Goes down like a stopped server: stops listening (new connections are refused) and
   * drops every connection, requests in flight included.
   */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Stops listening and drops every connection (hung requests included). */
  close(): Promise<void>;
}

export interface ProxyOptions {
  targetHost?: string;
  delay?: Proxy['delay'];
  /**
   * Forward a request only once its whole body has arrived, as S3 commits only complete
   * PUTs. s3rver writes a PUT's body into the object's file as it arrives, so a PUT the
   * client aborts leaves part of it there, and a late part of it can land in the middle of
   * the next PUT of the same key.
   */
  atomic?: boolean;
}

export async function startProxy(targetPort: number, options: ProxyOptions = {}): Promise<Proxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  /** Requests held by `delay`, dropped at `close` (a long hold must not outlive the test). */
  const delayed = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((incoming, outgoing) => handle(incoming, outgoing));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  function handle(incoming: IncomingMessage, outgoing: ServerResponse): void {
    const record: ProxiedRequest = {
      method: incoming.method ?? 'GET',
      path: incoming.url ?? '/',
      time: performance.now(),
      mode: proxy.mode,
    };
    proxy.requests.push(record);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      record.endTime = performance.now();
      inFlight -= 1;
    };
    outgoing.once('close', finish);

    if (record.mode === 'refuse') {
      incoming.socket.destroy();
      return;
    }
    if (record.mode === 'hang') {
      incoming.resume(); // read and discard the body; never answer
      hung.add(outgoing);
      outgoing.once('close', () => hung.delete(outgoing));
      return;
    }
    const wait = typeof proxy.delay === 'function' ? proxy.delay(record) : proxy.delay;
    const open = () => {
      const upstream = forward(
        { host: targetHost, port: targetPort, method: incoming.method, path: incoming.url, headers: incoming.headers, agent },
        (reply) => {
          record.status = reply.statusCode;
          outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
          // A reply cut short upstream (the server closed mid-body) cuts the client's short too.
          reply.on('error', () => outgoing.destroy());
          reply.pipe(outgoing);
        },
      );
      upstream.on('error', () => {
        if (!outgoing.headersSent) outgoing.writeHead(502).end();
        else outgoing.destroy();
      });
      // A client that gives up mid-request (an upload aborted on purpose) gives up upstream too.
      incoming.on('error', () => upstream.destroy());
      outgoing.once('close', () => {
        if (!outgoing.writableFinished) upstream.destroy();
      });
      return upstream;
    };
    const send = () => {
      if (!options.atomic) {
        incoming.pipe(open());
        return;
      }
      // Only a whole body goes on; one the client gave up on is dropped here.
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', () => outgoing.destroy());
      incoming.on('end', () => open().end(Buffer.concat(chunks)));
    };
    if (wait > 0) {
      const timer = setTimeout(() => {
        delayed.delete(timer);
        send();
      }, wait);
      delayed.add(timer);
    } else send();
  }

  const listen = (on: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(on, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  /** Drops every connection and request held here. */
  const drop = () => {
    for (const response of hung) response.destroy();
    for (const timer of delayed) clearTimeout(timer);
    delayed.clear();
    for (const socket of sockets) socket.destroy();
  };
  await listen(0);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let closing: Promise<void> | undefined;
  const proxy: Proxy = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests: [],
    mode: 'pass',
    delay: options.delay ?? 0,
    count(method, pathPrefix = '') {
      return proxy.requests.filter((r) => (method === '*' || r.method === method) && r.path.startsWith(pathPrefix)).length;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    reset() {
      proxy.requests.length = 0;
      maxInFlight = inFlight;
    },
    down() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        drop();
      });
    },
    up: () => listen(port),
    close() {
      closing ??= (async () => {
        if (server.listening) await proxy.down();
        else drop(); // down already: drop whatever is left
        agent.destroy();
      })();
      return closing;
    },
  };
  return proxy;
}
