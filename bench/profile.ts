/**
 * Where the daemon's time goes on `small` (2,000 x 4 KiB): one instrumented run (CPU
 * profile, Redis commands and round trips per job, HTTP requests and sockets per file,
 * event-loop delay and utilisation, GC), a worker-concurrency sweep, and client variants
 * that isolate the cost of the HEAD before each PUT and of the SDK's request path.
 * Writes bench/PROFILE.md and bench/profile.json. See bench/README.md.
 *
 *   npm run bench:profile -- [--concurrency 8,16,32,64] [--repeat 2] [--seed 9]
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { waitFor } from '../test/helpers/servers.js';
import { ensureFixture, warmPageCache, type Fixture } from './lib/fixtures.js';
import { startServers, type BenchServers } from './lib/servers.js';
import { profiling, projectRoot, startDaemon } from './lib/daemon.js';
import { runCommand } from './lib/peers.js';
import { cpuWindow, peakRssMiB } from './lib/proc.js';
import { verifyListing } from './lib/verify.js';
import { median } from './lib/report.js';
import { environmentFacts } from './lib/results.js';
import { summariseProfile, type ProfileSummary } from './profile/cpuprofile.js';
import { profileHuge } from './profile/huge.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '8,16,32,64' },
    repeat: { type: 'string', default: '2' },
    seed: { type: 'string', default: '9' },
    'skip-huge': { type: 'boolean', default: false },
    out: { type: 'string', default: join(projectRoot, 'bench') },
    'work-dir': { type: 'string', default: join(projectRoot, 'bench', '.work') },
  },
});
const workDir = values['work-dir'];
const repeat = Number(values.repeat);
const log = (line: string) => process.stderr.write(`[profile ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
let bucketCounter = 0;
const bucketName = (label: string) => `prof-${label}-${++bucketCounter}-${process.pid}`.toLowerCase().slice(0, 63);

async function commandStats(servers: BenchServers): Promise<Record<string, number>> {
  const text = await servers.redis.client.info('commandstats');
  const stats: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]!] = Number(match[2]);
  return stats;
}

/** One daemon run with every probe on. */
async function instrumentedRun(servers: BenchServers, fixture: Fixture) {
  const files = fixture.files.length;
  const dir = join(workDir, 'profile');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const output = join(dir, 'preload.json');
  const bucket = bucketName('instrumented');
  await servers.createBucket(bucket);
  const daemon = await startDaemon(servers, {
    bucket,
    logFile: join(workDir, 'daemon.log'),
    workDir,
    ...profiling(servers, dir, output),
  });
  const redis = servers.redis.client;
  // Completion is polled with ZCARD only, so the harness's own commands can be taken out.
  let harnessZcards = 0;
  const finished = async () => {
    harnessZcards += 2;
    const [completed, failed] = await Promise.all([
      redis.zcard(`${daemon.prefix}:uploads:completed`),
      redis.zcard(`${daemon.prefix}:uploads:failed`),
    ]);
    return completed + failed >= files;
  };
  process.kill(daemon.pid, 'SIGUSR2');
  await waitFor(() => existsSync(`${output}.open`), { what: 'preload window to open' });
  await redis.config('RESETSTAT');
  const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid, daemon: daemon.pid });
  const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
  await waitFor(finished, { timeoutMs: 10 * 60_000, intervalMs: 50, what: 'all jobs done' });
  const measured = window.stop();
  const stats = await commandStats(servers);
  process.kill(daemon.pid, 'SIGUSR2');
  await waitFor(() => existsSync(output), { what: 'preload report' });
  const preload = JSON.parse(await readFile(output, 'utf8')) as {
    windowUs: [number, number];
    httpRequests: Record<string, number>;
    socketsOpened: Record<string, number>;
    redisWrites: number;
    redisReads: number;
    redisWriteBytes: number;
    gcCount: number;
    gcMs: number;
    eventLoopUtilization: number;
    eventLoopDelayMs: Record<string, number>;
  };
  const rss = peakRssMiB(daemon.pid);
  await daemon.stop();
  const profileFile = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  const profile = profileFile ? await summariseProfile(join(dir, profileFile), preload.windowUs) : undefined;
  const verification = verifyListing(fixture.files, await servers.listObjects(bucket));

  // The harness's own commands: its ZCARD polls, and the INFO that read the stats.
  stats.zcard = (stats.zcard ?? 0) - harnessZcards;
  stats.info = (stats.info ?? 0) - 1;
  if (stats.config !== undefined) stats.config -= 1;
  const totalCommands = Object.values(stats).reduce((a, b) => a + b, 0);
  const listStarted = performance.now();
  const listed = await servers.listObjects(bucket);
  const listSeconds = (performance.now() - listStarted) / 1000;
  await servers.removeBucket(bucket);
  return {
    seconds: measured.wallSeconds,
    publishReplySeconds: reply.seconds,
    cpu: measured.cpu,
    daemonPeakRssMiB: rss,
    verified: verification.ok,
    redisCommands: { total: totalCommands, perJob: totalCommands / files, byCommand: stats },
    preload,
    profile,
    listing: { keys: listed.length, seconds: listSeconds },
  };
}

async function daemonRun(servers: BenchServers, fixture: Fixture, concurrency: number) {
  const bucket = bucketName(`c${concurrency}`);
  await servers.createBucket(bucket);
  const daemon = await startDaemon(servers, { bucket, concurrency, logFile: join(workDir, 'daemon.log'), workDir });
  const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid, daemon: daemon.pid });
  const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
  await daemon.waitBatchDone(reply.body.batch_id, 10 * 60_000);
  const measured = window.stop();
  const rss = peakRssMiB(daemon.pid);
  await daemon.stop();
  const ok = verifyListing(fixture.files, await servers.listObjects(bucket)).ok;
  await servers.removeBucket(bucket);
  return { seconds: measured.wallSeconds, cpu: measured.cpu, rss, ok };
}

async function clientRun(servers: BenchServers, fixture: Fixture, client: 'sdk' | 'http', head: boolean) {
  const bucket = bucketName(`${client}${head ? '-head' : ''}`);
  await servers.createBucket(bucket);
  const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid });
  const result = await runCommand(
    process.execPath,
    [
      join(projectRoot, 'dist', 'bench', 'sdk-client.js'),
      ...['--endpoint', servers.s3.endpoint, '--bucket', bucket, '--dir', fixture.dir, '--inflight', '32', '--client', client],
      ...(head ? ['--head'] : []),
    ],
    { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  );
  const measured = window.stop();
  if (result.code !== 0) throw new Error(`client ${client} failed: ${result.stderr.slice(0, 1000)}`);
  const ok = verifyListing(fixture.files, await servers.listObjects(bucket)).ok;
  await servers.removeBucket(bucket);
  const internal = (JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds;
  return { seconds: internal, cpu: measured.cpu, ok };
}

const f = (value: number | undefined, digits = 2) => (value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits));

/**
 * The profiler samples wall time: on a loaded machine a descheduled thread still collects
 * samples. So shares come from the profile, and absolute CPU from /proc: "CPU ms per file"
 * is the share times the process's measured CPU per file.
 */
function profileTables(profile: ProfileSummary | undefined, files: number, cpuSeconds: number): string {
  if (profile === undefined) return '(no CPU profile was written)\n';
  const cpuMsPerFile = (1000 * cpuSeconds) / files;
  const table = (rows: Array<{ category: string; ms: number; percentOfBusy: number }>) =>
    [
      '| part | % of busy samples | ≈ CPU ms per file |',
      '|---|---|---|',
      ...rows.slice(0, 16).map((r) => `| ${r.category} | ${f(r.percentOfBusy, 1)} | ${f((r.percentOfBusy / 100) * cpuMsPerFile, 3)} |`),
    ].join('\n');
  return `Main thread sampled over the timed window${profile.windowMatched ? '' : ' (window not matched: whole process life)'}: ${f(profile.totalMs, 0)} ms of samples, ${f(profile.busyMs, 0)} ms not idle; the process used ${f(cpuSeconds)} s of CPU (/proc), ${f(cpuMsPerFile, 3)} ms per file.

Self time by part (where the CPU actually is):

${table(profile.selfByCategory)}

Inclusive time by part (a sample counts for every part on its stack: "time spent under X"):

${table(profile.inclusiveByCategory)}

Functions with the most self time:

| function | where | ms | % of busy |
|---|---|---|---|
${profile.topFunctions
  .slice(0, 20)
  .map((r) => `| \`${r.name.replace(/\|/g, '\\|')}\` | ${r.where.replace(/\|/g, '\\|')} | ${f(r.ms, 0)} | ${f(r.percentOfBusy, 1)} |`)
  .join('\n')}
`;
}

function hugeSection(huge: Awaited<ReturnType<typeof profileHuge>>): string {
  const p = huge.publish;
  const commands = Object.entries(p.redisCommands)
    .filter(([, calls]) => calls > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([name, calls]) => `${name} ${f(calls / huge.files, 2)}`)
    .join(', ');
  return `
## huge: publishing 100,000 files (queue paused), and its halves apart

| measure | value |
|---|---|
| daemon: POST /publish reply (walk + enqueue), profiled | ${f(p.seconds)} s = ${f(p.filesPerSecond, 0)} files/s |
| daemon CPU during it | ${f(p.cpu.daemon!.seconds)} s (${f(p.cpu.daemon!.percentOfCore, 0)} % of a core) |
| redis-server CPU during it | ${f(p.cpu.redis!.seconds)} s (${f(p.cpu.redis!.percentOfCore, 0)} % of a core) |
| daemon event-loop utilisation | ${f(100 * p.eventLoopUtilization, 0)} % (p99 delay ${f(p.eventLoopDelayMs.p99, 1)} ms, max ${f(p.eventLoopDelayMs.max, 1)} ms) |
| daemon GC time | ${f(p.gcMs, 0)} ms |
| daemon peak RSS | ${f(p.daemonPeakRssMiB, 0)} MiB |
| Redis commands per job | ${f(p.redisCommandsPerJob, 1)} (${commands}) |
| daemon socket writes to Redis per job | ${f(p.redisWritesPerJob, 3)} |
| bytes of one job hash's fields | ${Object.entries(p.jobHashFieldBytes)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')} |
| the daemon's \`walkFiles\` alone (harness, same fixture) | ${f(huge.walk.seconds)} s = ${f(huge.walk.filesPerSecond, 0)} files/s |
| a walk with 64 stat calls in flight (harness) | ${f(huge.parallelWalk.seconds)} s = ${f(huge.parallelWalk.filesPerSecond, 0)} files/s |
| BullMQ addBulk alone, chunks of 1,000, one at a time | ${f(huge.enqueueSerial.seconds)} s = ${f(huge.enqueueSerial.filesPerSecond, 0)} files/s, ${f(huge.enqueueSerial.redisBytesPerJob, 0)} B of Redis per job |
| BullMQ addBulk alone, chunks of 1,000, four in flight | ${f(huge.enqueueFour.seconds)} s = ${f(huge.enqueueFour.filesPerSecond, 0)} files/s |
| the same, Redis \`hash-max-listpack-value 1024\` (job hashes stay listpacks) | ${f(huge.enqueueListpack.seconds)} s, ${f(huge.enqueueListpack.redisBytesPerJob, 0)} B of Redis per job |
| the same, listpack and no per-job retention options | ${f(huge.enqueueLean.redisBytesPerJob, 0)} B of Redis per job |

### CPU profile of the daemon during the huge publish

${profileTables(huge.profile, huge.files, p.cpu.daemon!.seconds)}`;
}

async function main() {
  await mkdir(workDir, { recursive: true });
  const started = new Date();
  const fixture = await ensureFixture(workDir, 'small', Number(values.seed), log);
  await warmPageCache(fixture);
  const files = fixture.files.length;
  const servers = await startServers(workDir);
  const concurrencies = values.concurrency.split(',').map(Number);
  const sweep: Record<string, Array<Awaited<ReturnType<typeof daemonRun>>>> = {};
  const clients: Record<string, Array<Awaited<ReturnType<typeof clientRun>>>> = {};
  let instrumented: Awaited<ReturnType<typeof instrumentedRun>>;
  let huge: Awaited<ReturnType<typeof profileHuge>> | undefined;
  try {
    log('instrumented daemon run (concurrency: config default)');
    instrumented = await instrumentedRun(servers, fixture);
    log(`instrumented: ${instrumented.seconds.toFixed(2)} s, ${instrumented.redisCommands.perJob.toFixed(1)} Redis commands per job`);
    for (let rep = 1; rep <= repeat; rep++) {
      for (const concurrency of concurrencies) {
        const run = await daemonRun(servers, fixture, concurrency);
        (sweep[concurrency] ??= []).push(run);
        log(`daemon concurrency ${concurrency} #${rep}: ${run.seconds.toFixed(2)} s, daemon CPU ${run.cpu.daemon!.seconds.toFixed(2)} s`);
      }
      for (const [client, head] of [
        ['sdk', false],
        ['sdk', true],
        ['http', false],
        ['http', true],
      ] as const) {
        const run = await clientRun(servers, fixture, client, head);
        (clients[`${client}${head ? ' + HEAD' : ''}`] ??= []).push(run);
        log(
          `client ${client}${head ? ' + HEAD' : ''} #${rep}: ${run.seconds.toFixed(2)} s, client CPU ${run.cpu.children!.seconds.toFixed(2)} s`,
        );
      }
    }
    if (!values['skip-huge']) {
      const hugeFixture = await ensureFixture(workDir, 'huge', Number(values.seed), log);
      await warmPageCache(hugeFixture);
      huge = await profileHuge(servers, hugeFixture, workDir, log);
    }
  } finally {
    await servers.close();
  }

  const facts = await environmentFacts();
  const i = instrumented;
  const requests = i.preload.httpRequests;
  const requestCount = Object.values(requests).reduce((a, b) => a + b, 0);
  const sockets = i.preload.socketsOpened;
  const s3Sockets = Object.entries(sockets)
    .filter(([port]) => port === String(servers.s3.port))
    .reduce((a, [, n]) => a + n, 0);
  const commands = Object.entries(i.redisCommands.byCommand)
    .filter(([, calls]) => calls > 0)
    .sort((a, b) => b[1] - a[1]);
  const sweepRows = Object.entries(sweep).map(([concurrency, list]) => {
    const seconds = median(list.map((r) => r.seconds));
    const daemonCpu = median(list.map((r) => r.cpu.daemon!.seconds));
    return `| ${concurrency} | ${f(seconds)} | ${f(files / seconds, 0)} | ${f((1000 * daemonCpu) / files, 2)} | ${f(median(list.map((r) => r.cpu.daemon!.percentOfCore)), 0)} | ${f(median(list.map((r) => r.cpu.s3rver!.percentOfCore)), 0)} | ${f(median(list.map((r) => r.cpu.redis!.percentOfCore)), 0)} | ${f(median(list.map((r) => r.rss)), 0)} | ${list.every((r) => r.ok) ? 'yes' : 'NO'} |`;
  });
  const clientRows = Object.entries(clients).map(([name, list]) => {
    const seconds = median(list.map((r) => r.seconds));
    const cpu = median(list.map((r) => r.cpu.children!.seconds));
    return `| ${name} | ${f(seconds)} | ${f(files / seconds, 0)} | ${f((1000 * cpu) / files, 2)} | ${f(median(list.map((r) => r.cpu.s3rver!.percentOfCore)), 0)} | ${list.every((r) => r.ok) ? 'yes' : 'NO'} |`;
  });
  const s3CpuPerRequestMs = (1000 * i.cpu.s3rver!.seconds) / Math.max(1, requestCount);

  const markdown = `# Where the daemon's time goes (small: 2,000 x 4 KiB)

Generated by \`npm run bench:profile${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` on ${started.toISOString()}.
Machine: ${facts.machine.cpus} CPUs, ${facts.machine.cpuModel}, ${facts.machine.memoryGiB} GiB; load average at the end ${facts.loadAverage} (shared machine: compare within this file only).
Versions: ${Object.entries(facts.versions)
    .map(([name, version]) => `${name} \`${version}\``)
    .join(', ')}.

## One instrumented run (daemon at its default concurrency, \`--cpu-prof\` and a counting preload)

The preload (\`bench/profile/preload.ts\`, loaded with \`node --import\`) counts inside the
daemon process between two SIGUSR2 the harness sends around the timed window; the daemon's
code is unchanged. Redis commands come from \`INFO commandstats\` (reset before the window;
the harness's own polling commands subtracted). Profiling slows the daemon somewhat.

| measure | value | per file |
|---|---|---|
| time, POST /publish → all jobs done | ${f(i.seconds)} s | |
| POST /publish reply (walk + enqueue) | ${f(i.publishReplySeconds, 3)} s | |
| daemon CPU (user + sys, /proc) | ${f(i.cpu.daemon!.seconds)} s (${f(i.cpu.daemon!.percentOfCore, 0)} % of a core) | ${f((1000 * i.cpu.daemon!.seconds) / files, 2)} ms |
| s3rver CPU | ${f(i.cpu.s3rver!.seconds)} s (${f(i.cpu.s3rver!.percentOfCore, 0)} % of a core) | ${f((1000 * i.cpu.s3rver!.seconds) / files, 2)} ms (${f(s3CpuPerRequestMs, 2)} ms per HTTP request) |
| redis-server CPU | ${f(i.cpu.redis!.seconds)} s (${f(i.cpu.redis!.percentOfCore, 0)} % of a core) | ${f((1000 * i.cpu.redis!.seconds) / files, 3)} ms |
| HTTP requests to S3 | ${Object.entries(requests)
    .map(([method, n]) => `${method} ${n}`)
    .join(', ')} | ${f(requestCount / files)} |
| new TCP connections to s3rver | ${s3Sockets} | |
| new TCP connections (all, by remote port) | ${JSON.stringify(sockets)} | |
| Redis commands (commandstats, incl. inside Lua) | ${i.redisCommands.total} | ${f(i.redisCommands.perJob, 1)} |
| Redis socket writes from the daemon (≈ round trips) | ${i.preload.redisWrites} (${f(i.preload.redisWriteBytes / 1024, 0)} KiB) | ${f(i.preload.redisWrites / files, 2)} |
| Redis socket reads by the daemon | ${i.preload.redisReads} | ${f(i.preload.redisReads / files, 2)} |
| event-loop utilisation | ${f(100 * i.preload.eventLoopUtilization, 0)} % | |
| event-loop delay mean / p50 / p99 / max | ${f(i.preload.eventLoopDelayMs.mean, 1)} / ${f(i.preload.eventLoopDelayMs.p50, 1)} / ${f(i.preload.eventLoopDelayMs.p99, 1)} / ${f(i.preload.eventLoopDelayMs.max, 1)} ms | |
| GC | ${i.preload.gcCount} pauses, ${f(i.preload.gcMs, 0)} ms | |
| daemon peak RSS | ${f(i.daemonPeakRssMiB, 0)} MiB | |
| one ListObjectsV2 walk of the 2,000 keys (harness, SDK) | ${f(i.listing.seconds, 3)} s | |
| bucket verified | ${i.verified ? 'yes' : 'NO'} | |

Redis commands by name (per job):

| command | calls | per job |
|---|---|---|
${commands.map(([name, calls]) => `| ${name} | ${calls} | ${f(calls / files, 2)} |`).join('\n')}

### CPU profile of the daemon's main thread

${profileTables(i.profile, files, i.cpu.daemon!.seconds)}
## Worker concurrency (\`[daemon] concurrency\`), medians of ${repeat}

| concurrency | time s | files/s | daemon CPU ms per file | daemon CPU % of a core | s3rver CPU % | redis CPU % | daemon peak RSS MiB | verified |
|---|---|---|---|---|---|---|---|---|
${sweepRows.join('\n')}

## Client variants, 32 in flight, no queue (\`bench/sdk-client.ts\`), medians of ${repeat}

\`sdk\`: @aws-sdk/client-s3 PutObject; \`http\`: \`aws4\` signing over \`node:http\` with a
keep-alive agent; \`+ HEAD\`: a HEAD before each PUT (404 here, as on a first upload).
Time excludes Node start-up; client CPU is the whole process's.

| client | time s | files/s | client CPU ms per file | s3rver CPU % | verified |
|---|---|---|---|---|---|
${clientRows.join('\n')}
${huge === undefined ? '' : hugeSection(huge)}`;
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'PROFILE.md'), markdown);
  await writeFile(
    join(values.out, 'profile.json'),
    `${JSON.stringify({ started, facts, instrumented: i, sweep, clients, huge }, null, 2)}\n`,
  );
  process.stdout.write(markdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
