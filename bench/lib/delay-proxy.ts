/**
 * A wide-area link on the loopback: a TCP proxy that delays every byte by a set time in
 * each direction (default 25 ms each way: 50 ms RTT) and can cap the bandwidth of each
 * direction. A new connection costs its handshake too: the client's first bytes reach the
 * server 1.5 RTT after it connected, as through a real link (SYN, SYN-ACK, then data). netem is not available on these machines; this
 * stands in front of the S3 server for every contender alike.
 *
 * Each direction is a FIFO of chunks, each released at (arrival + delay), or later when
 * the bandwidth cap says the link is still busy sending earlier bytes. Reading pauses
 * while more than `windowBytes` wait in a direction, so a fast sender sees the link's
 * back-pressure as it would through a real bottleneck.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** One-way delay, each direction (default 25). */
  delayMs?: number;
  /** Bandwidth cap per direction in Mbit/s (default: none). */
  mbitPerSecond?: number;
  /** Bytes queued per direction before reading pauses (default 4 MiB). */
  windowBytes?: number;
  /**
   * Called as the proxy accepts a connection and as the first bytes of each HTTP request
   * (client side) or response (server side) reach it: a timeline of a client's round trips.
   */
  trace?: (event: { at: number; connection: number; what: string }) => void;
}

export interface DelayProxy {
  endpoint: string;
  port: number;
  /** Connections accepted since start. */
  readonly connections: number;
  /**
   * HTTP requests seen, by method, since start or the last reset (counted where a chunk
   * from a client starts with a request line: exact for clients that write each request
   * with a fresh write, as HTTP/1.1 clients do).
   */
  readonly requests: Record<string, number>;
  resetRequests(): void;
  /** Cuts every open connection (as a server's idle timeout would): clients must connect again. */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * Carries `from`'s bytes to `to`, each `delayMs` late, at most `bytesPerMs` (Infinity: no
 * cap), in order. One FIFO and one timer per direction: a timer per chunk would reorder
 * chunks (Node orders timers of different, fractional durations by their expiry, computed
 * from a cached loop time), which tore the bodies of large uploads.
 */
function pipeDelayed(from: Socket, to: Socket, delayMs: number, bytesPerMs: number, windowBytes: number): void {
  const fifo: Array<{ at: number; chunk: Buffer | 'end' | 'close' }> = [];
  let queued = 0;
  let linkFreeAt = 0; // when the capped link has sent everything before
  let timer: NodeJS.Timeout | undefined;
  const drain = () => {
    timer = undefined;
    const now = performance.now();
    while (fifo.length > 0 && fifo[0]!.at <= now) {
      const { chunk } = fifo.shift()!;
      if (chunk === 'end') to.end();
      else if (chunk === 'close') to.destroy();
      else {
        queued -= chunk.length;
        if (!to.destroyed) to.write(chunk);
      }
    }
    if (queued <= windowBytes && from.isPaused() && !from.destroyed) from.resume();
    schedule();
  };
  const schedule = () => {
    if (timer !== undefined || fifo.length === 0) return;
    timer = setTimeout(drain, Math.max(0, fifo[0]!.at - performance.now()));
  };
  const push = (chunk: Buffer | 'end' | 'close', bytes: number) => {
    const now = performance.now();
    linkFreeAt = Number.isFinite(bytesPerMs) ? Math.max(now, linkFreeAt) + bytes / bytesPerMs : now;
    fifo.push({ at: linkFreeAt + delayMs, chunk });
    schedule();
  };
  from.on('data', (chunk: Buffer) => {
    queued += chunk.length;
    if (queued > windowBytes) from.pause();
    push(chunk, chunk.length);
  });
  from.on('end', () => push('end', 0));
  from.on('close', () => push('close', 0));
  from.on('error', () => undefined);
}

export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const delayMs = options.delayMs ?? 25;
  const bytesPerMs = options.mbitPerSecond === undefined ? Infinity : (options.mbitPerSecond * 1e6) / 8 / 1000;
  const windowBytes = options.windowBytes ?? 4 * 1024 * 1024;
  const sockets = new Set<Socket>();
  let connections = 0;
  const requests: Record<string, number> = {};
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer({ noDelay: true }, (client) => {
    connections += 1;
    const connection = connections;
    const trace = options.trace;
    const firstLine = (chunk: Buffer) => chunk.subarray(0, 200).toString('latin1').split('\r\n')[0]!;
    client.on('data', (chunk: Buffer) => {
      const line = firstLine(chunk);
      const method = /^([A-Z]+) \S+ HTTP\/1/.exec(line)?.[1];
      if (method === undefined) return;
      requests[method] = (requests[method] ?? 0) + 1;
      trace?.({ at: performance.now(), connection, what: `> ${line}` });
    });
    if (trace !== undefined) {
      trace({ at: performance.now(), connection, what: 'connect' });
      client.once('upstream', (upstream: Socket) =>
        upstream.on('data', (chunk: Buffer) => {
          if (firstLine(chunk).startsWith('HTTP/')) trace({ at: performance.now(), connection, what: `< ${firstLine(chunk)}` });
        }),
      );
    }
    track(client);
    client.pause();
    // The loopback accepted at once; a real client would see its SYN-ACK one RTT later, so
    // its first bytes wait that long (in its socket buffer), then travel one delay more.
    setTimeout(() => {
      if (client.destroyed) return;
      const upstream = connect({ port: options.targetPort, host: options.targetHost ?? '127.0.0.1', noDelay: true });
      track(upstream);
      client.emit('upstream', upstream);
      upstream.once('connect', () => {
        pipeDelayed(client, upstream, delayMs, bytesPerMs, windowBytes);
        pipeDelayed(upstream, client, delayMs, bytesPerMs, windowBytes);
        client.resume();
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    }, 2 * delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections;
    },
    requests,
    resetRequests() {
      for (const method of Object.keys(requests)) delete requests[method];
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
