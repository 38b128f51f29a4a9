/**
 * Loaded into the daemon with `node --import <this file>` by `npm run bench:profile`, so
 * the daemon's code stays untouched. Counts, over a window the harness opens and closes
 * with SIGUSR2: HTTP requests by method, new sockets by remote port, writes (≈ round
 * trips) and reads on the Redis sockets, event-loop delay, event-loop utilisation and GC
 * time. Writes a JSON file (BENCH_PROFILE_OUT) when the window closes.
 */
import diagnostics from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';

const redisPort = Number(process.env.BENCH_REDIS_PORT);
const output = process.env.BENCH_PROFILE_OUT;

interface Counters {
  httpRequests: Record<string, number>;
  socketsOpened: Record<string, number>;
  redisWrites: number;
  redisWriteBytes: number;
  redisReads: number;
  gcCount: number;
  gcMs: number;
}

const fresh = (): Counters => ({
  httpRequests: {},
  socketsOpened: {},
  redisWrites: 0,
  redisWriteBytes: 0,
  redisReads: 0,
  gcCount: 0,
  gcMs: 0,
});
let counters = fresh();
let open = false;
const delay = monitorEventLoopDelay({ resolution: 10 });
let eluStart: EventLoopUtilization | undefined;
let windowStartedUs = 0;

diagnostics.subscribe('http.client.request.start', (message) => {
  if (!open) return;
  const request = (message as { request: ClientRequest }).request;
  counters.httpRequests[request.method] = (counters.httpRequests[request.method] ?? 0) + 1;
});

function instrumentRedisSocket(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    if (open) {
      counters.redisWrites++;
      const chunk = args[0];
      counters.redisWriteBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Buffer | undefined)?.length ?? 0);
    }
    return write(...args);
  }) as Socket['write'];
  socket.on('data', () => {
    if (open) counters.redisReads++;
  });
}

diagnostics.subscribe('net.client.socket', (message) => {
  const socket = (message as { socket: Socket }).socket;
  socket.once('connect', () => {
    const port = socket.remotePort ?? 0;
    if (open) counters.socketsOpened[String(port)] = (counters.socketsOpened[String(port)] ?? 0) + 1;
  });
  // The port is known from the connect options only after connect; ioredis writes nothing before.
  socket.once('connect', () => {
    if (socket.remotePort === redisPort) instrumentRedisSocket(socket);
  });
});

new PerformanceObserver((list) => {
  if (!open) return;
  for (const entry of list.getEntries()) {
    counters.gcCount++;
    counters.gcMs += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  if (!open) {
    counters = fresh();
    delay.reset();
    delay.enable();
    eluStart = performance.eventLoopUtilization();
    windowStartedUs = Number(process.hrtime.bigint() / 1000n);
    open = true;
    if (output) writeFileSync(`${output}.open`, '');
    return;
  }
  open = false;
  delay.disable();
  const elu = performance.eventLoopUtilization(eluStart);
  const ms = (ns: number) => ns / 1e6;
  const report = {
    windowUs: [windowStartedUs, Number(process.hrtime.bigint() / 1000n)],
    ...counters,
    eventLoopUtilization: elu.utilization,
    eventLoopDelayMs: {
      mean: ms(delay.mean),
      p50: ms(delay.percentile(50)),
      p99: ms(delay.percentile(99)),
      max: ms(delay.max),
    },
    resourceUsage: process.resourceUsage(),
  };
  if (output) writeFileSync(output, JSON.stringify(report, null, 2));
});
