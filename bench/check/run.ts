/**
 * Cache-hit throughput of `GET /check/{key}`: the real daemon (as its own process) beside a
 * bare Fastify + ioredis server (one GET per request), loaded in turns by autocannon in the
 * same run, medians of N runs each. Not a test: prints a Markdown table.
 *
 *   npm run bench:check -- [--runs 3] [--duration 10] [--connections 32]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { cacheKey } from '../../src/check/index.js';
import { startRedis } from '../../test/helpers/servers.js';
import { rawConfig, startDaemonProcess, tempDir } from '../../test/helpers/daemon.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
  },
});
const runs = Number(values.runs);
const duration = Number(values.duration);
const connections = Number(values.connections);
const KEY = 'store/0123456789abcdfghijklmnpqrsvwxyz.narinfo';

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU (user + system) per request, in µs: steadier than req/s on a shared machine. */
  cpuUs: number;
}

/** CPU time a process has used so far, in µs (Linux `/proc`; NaN elsewhere). */
function cpuTimeUs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime + stime, in 1/100 s ticks
  } catch {
    return Number.NaN;
  }
}

async function load(url: string, seconds: number, pid?: number): Promise<Sample> {
  const cpuBefore = cpuTimeUs(pid);
  const result = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  const cpuUs = (cpuTimeUs(pid) - cpuBefore) / result.requests.total;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUs };
}

function startBare(redisPort: number, keyPrefix: string): Promise<{ url: string; child: ChildProcess }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'bare-server.js');
  const child = spawn(process.execPath, [script, String(redisPort), keyPrefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      const port = /listening (\d+)/.exec(chunk.toString())?.[1];
      if (port !== undefined) resolve({ url: `http://127.0.0.1:${port}`, child });
    });
  });
}

const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]!;

const redisServer = await startRedis();
const root = await tempDir('bench-bucket');
// fs storage: a cache hit never reaches the storage, and no S3 server competes for the CPU.
const raw = rawConfig(redisServer, undefined, { storage: { type: 'fs', root }, daemon: { concurrency: 4 } });
const daemon = await startDaemonProcess(raw);
const redis = new Redis({ host: '127.0.0.1', port: redisServer.port });
const entryKey = cacheKey({ prefix: String(raw.redis!.key_prefix), bucketId: 'fs' }, KEY);
await redis.set(entryKey, JSON.stringify({ exists: true, size: 1234, timestamp: new Date().toISOString() }));
const bare = await startBare(redisServer.port, entryKey.slice(0, -KEY.length));

const targets = { daemon: `${daemon.url}/check/${KEY}`, bare: `${bare.url}/check/${KEY}` };
const pids = { daemon: daemon.child.pid, bare: bare.child.pid };
const sanity = (await (await fetch(targets.daemon)).json()) as { cached?: boolean };
if (sanity.cached !== true) throw new Error(`the daemon does not answer from the cache: ${JSON.stringify(sanity)}`);

const samples: Record<keyof typeof targets, Sample[]> = { daemon: [], bare: [] };
try {
  for (const url of Object.values(targets)) await load(url, Number(values.warmup));
  // Alternate the two servers so drift on the shared machine hits both alike.
  for (let run = 0; run < runs; run++) {
    for (const name of ['daemon', 'bare'] as const) {
      const sample = await load(targets[name], duration, pids[name]);
      samples[name].push(sample);
      process.stderr.write(
        `run ${run + 1} ${name}: ${Math.round(sample.rps)} req/s, p50 ${sample.p50} ms, p99 ${sample.p99} ms, ${sample.cpuUs.toFixed(1)} µs CPU/req\n`,
      );
    }
  }
} finally {
  bare.child.kill('SIGTERM');
  await daemon.stop();
  redis.disconnect();
  await redisServer.destroy();
}

const summary = (name: keyof typeof targets) => ({
  rps: median(samples[name].map((s) => s.rps)),
  p50: median(samples[name].map((s) => s.p50)),
  p99: median(samples[name].map((s) => s.p99)),
  cpuUs: median(samples[name].map((s) => s.cpuUs)),
});
const ours = summary('daemon');
const base = summary('bare');
const row = (label: string, s: Sample, ratio: string) =>
  `| ${label} | ${Math.round(s.rps)} | ${ratio} | ${s.p50} | ${s.p99} | ${s.cpuUs.toFixed(1)} |`;
process.stdout.write(
  [
    `cache-hit GET /check, ${connections} connections, ${duration} s per run, medians of ${runs} runs, Node ${process.version}`,
    '',
    '| server | req/s | rate vs bare | p50 ms | p99 ms | server CPU µs/request |',
    '|---|---|---|---|---|---|',
    row('sync4loong daemon', ours, `${(ours.rps / base.rps).toFixed(2)}x`),
    row('bare Fastify + ioredis GET', base, '1.00x'),
    '',
  ].join('\n'),
);
