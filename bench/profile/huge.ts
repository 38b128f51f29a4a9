/**
 * Where the time of publishing 100,000 files goes: the daemon's publish with the queue
 * paused (CPU profile, event-loop utilisation, Redis commands per job), and its two halves
 * measured apart in the harness: the daemon's own folder walk (`walkFiles`, imported
 * read-only from dist/src) and BullMQ `addBulk` of the same jobs in chunks of 1,000.
 */
import { existsSync } from 'node:fs';
import { mkdir, opendir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Queue, type JobsOptions } from 'bullmq';
import { walkFiles } from '../../src/publish/index.js';
import { waitFor } from '../../test/helpers/servers.js';
import type { Fixture } from '../lib/fixtures.js';
import type { BenchServers } from '../lib/servers.js';
import { profiling, startDaemon } from '../lib/daemon.js';
import { cpuWindow, peakRssMiB } from '../lib/proc.js';
import { summariseProfile } from './cpuprofile.js';

async function commandStats(servers: BenchServers): Promise<Record<string, number>> {
  const text = await servers.redis.client.info('commandstats');
  const stats: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]!] = Number(match[2]);
  return stats;
}

/** The job options the daemon uses by default (src/queue/options.ts with the default [publish]). */
const JOB_OPTIONS: JobsOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 1_209_600 },
};

export async function profileHuge(servers: BenchServers, fixture: Fixture, workDir: string, log: (line: string) => void) {
  const files = fixture.files.length;
  const redis = servers.redis.client;
  const dir = join(workDir, 'profile-huge');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const output = join(dir, 'preload.json');
  await redis.flushall();

  // 1. The daemon's publish, queue paused, every probe on.
  const bucket = `prof-huge-${process.pid}`;
  await servers.createBucket(bucket);
  const daemon = await startDaemon(servers, {
    bucket,
    paused: true,
    logFile: join(workDir, 'daemon.log'),
    workDir,
    ...profiling(servers, dir, output),
  });
  process.kill(daemon.pid, 'SIGUSR2');
  await waitFor(() => existsSync(`${output}.open`), { what: 'preload window to open' });
  await redis.config('RESETSTAT');
  const window = cpuWindow({ redis: servers.redis.pid, daemon: daemon.pid });
  const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
  const measured = window.stop();
  const stats = await commandStats(servers);
  process.kill(daemon.pid, 'SIGUSR2');
  await waitFor(() => existsSync(output), { what: 'preload report' });
  const preload = JSON.parse(await readFile(output, 'utf8')) as {
    windowUs: [number, number];
    redisWrites: number;
    eventLoopUtilization: number;
    eventLoopDelayMs: Record<string, number>;
    gcMs: number;
  };
  const rss = peakRssMiB(daemon.pid);
  const jobFields = (await redis.hgetall(`${daemon.prefix}:uploads:1`)) as Record<string, string>;
  await daemon.stop();
  await servers.removeBucket(bucket);
  const profileFile = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  const profile = profileFile ? await summariseProfile(join(dir, profileFile), preload.windowUs) : undefined;
  stats.info = (stats.info ?? 0) - 1;
  const totalCommands = Object.values(stats).reduce((a, b) => a + b, 0);
  log(`huge (profiled): ${files} files in ${reply.seconds.toFixed(2)} s`);
  await redis.flushall();

  // 2. The walk alone: the daemon's walkFiles, and a bare readdir + stat with 64 stats in flight.
  let started = performance.now();
  let walked = 0;
  for await (const _file of walkFiles(fixture.dir)) walked++;
  const walkSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const parallelWalked = await parallelWalk(fixture.dir);
  const parallelWalkSeconds = (performance.now() - started) / 1000;

  // 3. The enqueue alone: addBulk of daemon-shaped jobs in chunks of 1,000, one chunk at a
  //    time (as the publisher does) and four chunks in flight.
  const jobs = fixture.files.map((file) => ({
    name: 'file_sync_single',
    data: {
      file_path: join(fixture.dir, file.key),
      s3_key: file.key,
      delete_after_sync: false,
      overwrite: false,
      root: fixture.dir,
      size: file.size,
    },
    opts: JOB_OPTIONS,
  }));
  const enqueue = async (inFlight: number, list = jobs) => {
    const queue = new Queue('uploads', { connection: { host: '127.0.0.1', port: servers.redis.port }, prefix: `enq${inFlight}` });
    await queue.pause();
    const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    const t0 = performance.now();
    const chunks: Array<typeof list> = [];
    for (let i = 0; i < list.length; i += 1000) chunks.push(list.slice(i, i + 1000));
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < chunks.length) await queue.addBulk(chunks[next++]!);
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    await queue.close();
    await redis.flushall();
    return { seconds, filesPerSecond: list.length / seconds, redisBytesPerJob: (after - before) / list.length };
  };
  const enqueueSerial = await enqueue(1);
  const enqueueFour = await enqueue(4);
  // Redis keeps a hash as a compact listpack only while every value is at most
  // hash-max-listpack-value bytes (64 by default); a job's `data` is ~270.
  const defaultListpack = (await redis.config('GET', 'hash-max-listpack-value')) as string[];
  await redis.config('SET', 'hash-max-listpack-value', '1024');
  const enqueueListpack = await enqueue(4);
  // Retention set once on the worker instead of in every job's opts.
  const enqueueLean = await enqueue(
    4,
    jobs.map((job) => ({ ...job, opts: { attempts: 4, backoff: { type: 'exponential', delay: 10_000 } } })),
  );
  await redis.config('SET', 'hash-max-listpack-value', defaultListpack[1] ?? '64');

  return {
    files,
    publish: {
      seconds: reply.seconds,
      filesPerSecond: files / reply.seconds,
      cpu: measured.cpu,
      daemonPeakRssMiB: rss,
      eventLoopUtilization: preload.eventLoopUtilization,
      eventLoopDelayMs: preload.eventLoopDelayMs,
      gcMs: preload.gcMs,
      redisCommandsPerJob: totalCommands / files,
      redisCommands: stats,
      redisWritesPerJob: preload.redisWrites / files,
      jobHashFieldBytes: Object.fromEntries(Object.entries(jobFields).map(([k, v]) => [k, Buffer.byteLength(v)])),
    },
    profile,
    walk: { files: walked, seconds: walkSeconds, filesPerSecond: walked / walkSeconds },
    parallelWalk: { files: parallelWalked, seconds: parallelWalkSeconds, filesPerSecond: parallelWalked / parallelWalkSeconds },
    enqueueSerial,
    enqueueFour,
    enqueueListpack,
    enqueueLean,
  };
}

/** A folder walk with up to 64 stat calls in flight (what a faster walker could do). */
async function parallelWalk(root: string): Promise<number> {
  let count = 0;
  const pending: string[] = [root];
  while (pending.length > 0) {
    const directory = pending.pop()!;
    const entries = [];
    for await (const entry of await opendir(directory, { bufferSize: 256 })) entries.push(entry);
    for (let i = 0; i < entries.length; i += 64) {
      await Promise.all(
        entries.slice(i, i + 64).map(async (entry) => {
          const path = join(directory, entry.name);
          if (entry.isDirectory()) pending.push(path);
          else if (entry.isFile() && (await stat(path)).isFile()) {
            void relative(root, path);
            count++;
          }
        }),
      );
    }
  }
  return count;
}
