/**
 * The benchmark: the daemon against rclone, aws-cli and a bare SDK script on the same
 * fixtures, servers and machine, in one run. See bench/README.md.
 *
 *   npm run bench -- [--only small,mixed,large,noop,huge] [--repeat 3] [--concurrency N]
 *                    [--contenders daemon,rclone,...] [--seed 9] [--out bench]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureFixture, warmPageCache, type Fixture, type FixtureName } from './lib/fixtures.js';
import { startServers, type BenchServers } from './lib/servers.js';
import { parseDaemonVariant, projectRoot, startDaemon, type ConfigOverrides } from './lib/daemon.js';
import { runPeer, type PeerName } from './lib/peers.js';
import { cpuWindow, peakRssMiB, rssMiB } from './lib/proc.js';
import { verifyListing } from './lib/verify.js';
import { hugeTable, noopTable, uploadTable, type RunRecord, type Scenario } from './lib/report.js';
import { environmentFacts, renderResults } from './lib/results.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'small,mixed,large,noop,huge' },
    repeat: { type: 'string', default: '3' },
    concurrency: { type: 'string' },
    contenders: { type: 'string' },
    seed: { type: 'string', default: '9' },
    out: { type: 'string', default: join(projectRoot, 'bench') },
    'work-dir': { type: 'string', default: join(projectRoot, 'bench', '.work') },
  },
});

const scenarios = values.only.split(',').map((s) => s.trim()) as Scenario[];
const repeat = Number(values.repeat);
const seed = Number(values.seed);
const workDir = values['work-dir'];
const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
const STANDARD = ['daemon', 'rclone', 'rclone-16', 'aws-cp', 'sdk-32'];
/** large also runs the daemon with multipart on (the default below 4 GiB is one streamed PUT), to track what multipart costs. */
const DEFAULT_CONTENDERS: Record<string, string[]> = { large: [...STANDARD, 'daemon@s3.multipart_threshold_mb=256'] };
const contendersOf = (scenario: string) =>
  values.contenders !== undefined ? values.contenders.split(',').map((s) => s.trim()) : (DEFAULT_CONTENDERS[scenario] ?? STANDARD);
const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const runs: RunRecord[] = [];
let bucketCounter = 0;

function bucketName(scenario: string, contender: string): string {
  bucketCounter += 1;
  // Bucket names allow [a-z0-9.-] only: a variant's `@`, `=`, `+` and `_` become `-`.
  return `${scenario}-${contender}-${bucketCounter}-${process.pid}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63);
}

/** Rotates the contender order each repeat, so drift and cache effects spread evenly. */
function rotated<T>(items: T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function daemonUpload(
  servers: BenchServers,
  scenario: Scenario,
  fixture: Fixture,
  bucket: string,
  rep: number,
  contender = 'daemon',
  config: ConfigOverrides = {},
) {
  const daemon = await startDaemon(servers, { bucket, concurrency, config, logFile: join(workDir, 'daemon.log'), workDir });
  const idleRssMiB = rssMiB(daemon.pid);
  const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid, daemon: daemon.pid });
  const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
  if (reply.status !== 200) throw new Error(`publish answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  const done = await daemon.waitBatchDone(reply.body.batch_id, 30 * 60_000);
  const measured = window.stop();
  const record: RunRecord = {
    scenario,
    contender,
    repeat: rep,
    seconds: measured.wallSeconds,
    wallSeconds: measured.wallSeconds,
    files: fixture.files.length,
    bytes: fixture.totalBytes,
    cpu: measured.cpu,
    daemonPeakRssMiB: peakRssMiB(daemon.pid),
    extra: {
      idleRssMiB,
      publishReplySeconds: reply.seconds,
      uploaded: done.uploaded,
      skipped: done.skipped,
      failed: done.failed,
      presentFiles: reply.body.present_files,
      concurrency: concurrency ?? 'default',
    },
  };
  if (scenario === 'noop') {
    const outcomes = { uploaded: done.uploaded, skipped: done.skipped, failed: done.failed, present_at_publish: reply.body.present_files };
    record.extra = { ...record.extra, outcomes, uploaded: done.uploaded > 0 };
  }
  await daemon.stop();
  return record;
}

async function peerUpload(servers: BenchServers, scenario: Scenario, fixture: Fixture, bucket: string, peer: PeerName, rep: number) {
  const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid });
  const result = await runPeer(peer, { endpoint: servers.s3.endpoint, workDir }, fixture.dir, bucket);
  const measured = window.stop();
  if (result.code !== 0) throw new Error(`${peer} exited with ${result.code}: ${result.stderr.slice(0, 2000)}`);
  // The bare script reports its own time (walk to last reply), without Node's start-up.
  const internal = peer === 'sdk-32' ? (JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds : undefined;
  const record: RunRecord = {
    scenario,
    contender: peer,
    repeat: rep,
    seconds: internal ?? result.seconds,
    wallSeconds: result.seconds,
    files: fixture.files.length,
    bytes: fixture.totalBytes,
    cpu: measured.cpu,
  };
  return record;
}

async function uploadScenario(servers: BenchServers, scenario: FixtureName) {
  const fixture = await ensureFixture(workDir, scenario, seed, log);
  await warmPageCache(fixture);
  for (let rep = 1; rep <= repeat; rep++) {
    for (const contender of rotated(contendersOf(scenario), rep - 1)) {
      const bucket = bucketName(scenario, contender);
      await servers.createBucket(bucket);
      const variant = parseDaemonVariant(contender);
      const record =
        variant !== undefined
          ? await daemonUpload(servers, scenario, fixture, bucket, rep, contender, variant)
          : await peerUpload(servers, scenario, fixture, bucket, contender as PeerName, rep);
      record.verification = verifyListing(fixture.files, await servers.listObjects(bucket));
      await servers.removeBucket(bucket);
      runs.push(record);
      log(
        `${scenario} #${rep} ${contender}: ${record.seconds.toFixed(2)} s, s3rver ${record.cpu.s3rver!.percentOfCore.toFixed(0)} % of a core` +
          `${record.daemonPeakRssMiB ? `, daemon peak RSS ${record.daemonPeakRssMiB.toFixed(0)} MiB` : ''}` +
          `${record.verification.ok ? ', verified' : `, VERIFY FAILED ${record.verification.examples.join('; ')}`}`,
      );
    }
  }
}

/** Re-publishing `small` into a bucket that already holds it all (populated once by rclone). */
async function noopScenario(servers: BenchServers) {
  const fixture = await ensureFixture(workDir, 'small', seed, log);
  await warmPageCache(fixture);
  const bucket = bucketName('noop', 'all');
  await servers.createBucket(bucket);
  const fill = await runPeer('rclone', { endpoint: servers.s3.endpoint, workDir }, fixture.dir, bucket);
  if (fill.code !== 0 || !verifyListing(fixture.files, await servers.listObjects(bucket)).ok)
    throw new Error('noop: filling the bucket failed');
  const contenders = ['daemon', 'rclone', 'rclone-16', 'aws-sync'];
  for (let rep = 1; rep <= repeat; rep++) {
    for (const contender of rotated(contenders, rep - 1)) {
      const listedBefore = await servers.listObjects(bucket);
      const record =
        contender === 'daemon'
          ? await daemonUpload(servers, 'noop', fixture, bucket, rep)
          : await peerUpload(servers, 'noop', fixture, bucket, contender as PeerName, rep);
      const listed = await servers.listObjects(bucket);
      record.verification = verifyListing(fixture.files, listed);
      // An object rewritten by the contender shows a new LastModified; ETags alone cannot tell.
      const modifiedBefore = new Map(listedBefore.map((object) => [object.key, object.lastModified]));
      const rewritten = listed.filter((object) => modifiedBefore.get(object.key) !== object.lastModified).length;
      record.extra = { ...record.extra, rewritten, ...(rewritten > 0 ? { uploaded: true } : {}) };
      runs.push(record);
      log(
        `noop #${rep} ${contender}: ${record.seconds.toFixed(2)} s, ${rewritten} objects rewritten${record.extra?.outcomes ? ` ${JSON.stringify(record.extra.outcomes)}` : ''}`,
      );
    }
  }
  await servers.removeBucket(bucket);
}

/** Publishing 100,000 files with the queue paused: enqueue speed, daemon RSS, Redis bytes per job. */
async function hugeScenario(servers: BenchServers) {
  const fixture = await ensureFixture(workDir, 'huge', seed, log);
  await warmPageCache(fixture);
  const redis = servers.redis.client;
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
  for (let rep = 1; rep <= repeat; rep++) {
    await redis.flushall();
    const bucket = bucketName('huge', 'daemon');
    await servers.createBucket(bucket);
    const daemon = await startDaemon(servers, { bucket, concurrency, logFile: join(workDir, 'daemon.log'), workDir, paused: true });
    const idleRssMiB = rssMiB(daemon.pid);
    const before = await usedMemory();
    const window = cpuWindow({ s3rver: servers.s3.pid, redis: servers.redis.pid, daemon: daemon.pid });
    const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
    const measured = window.stop();
    if (reply.status !== 200 || reply.body?.total_files !== fixture.files.length) {
      throw new Error(`huge: publish answered ${reply.status}: ${JSON.stringify(reply.body).slice(0, 500)}`);
    }
    const after = await usedMemory();
    const counts = await daemon.queue.getJobCounts('waiting', 'active', 'completed');
    const jobHashBytes = Number(await redis.call('MEMORY', 'USAGE', `${daemon.prefix}:uploads:1`, 'SAMPLES', '0'));
    const record: RunRecord = {
      scenario: 'huge',
      contender: 'daemon',
      repeat: rep,
      seconds: reply.seconds,
      wallSeconds: reply.seconds,
      files: fixture.files.length,
      bytes: fixture.totalBytes,
      cpu: measured.cpu,
      daemonPeakRssMiB: peakRssMiB(daemon.pid),
      extra: {
        idleRssMiB,
        rssAfterMiB: rssMiB(daemon.pid),
        redisBytesPerFile: (after - before) / fixture.files.length,
        jobHashBytes,
        counts,
      },
    };
    runs.push(record);
    log(
      `huge #${rep}: ${fixture.files.length} files enqueued in ${reply.seconds.toFixed(2)} s ` +
        `(${(fixture.files.length / reply.seconds).toFixed(0)}/s), daemon peak RSS ${record.daemonPeakRssMiB!.toFixed(0)} MiB, ` +
        `Redis ${(record.extra!.redisBytesPerFile as number).toFixed(0)} B/file, counts ${JSON.stringify(counts)}`,
    );
    await daemon.stop();
    await servers.removeBucket(bucket);
    await redis.flushall();
  }
}

async function main() {
  await mkdir(workDir, { recursive: true });
  const started = new Date();
  const servers = await startServers(workDir);
  log(`redis-server pid ${servers.redis.pid} port ${servers.redis.port}; s3rver pid ${servers.s3.pid} port ${servers.s3.port}`);
  try {
    for (const scenario of scenarios) {
      log(`scenario ${scenario}`);
      if (scenario === 'noop') await noopScenario(servers);
      else if (scenario === 'huge') await hugeScenario(servers);
      else await uploadScenario(servers, scenario);
    }
  } finally {
    await servers.close();
  }
  const facts = await environmentFacts();
  const args = process.argv.slice(2).join(' ');
  const markdown = renderResults({
    facts,
    started,
    minutes: (Date.now() - started.getTime()) / 60_000,
    args,
    repeat,
    tables: {
      small: uploadTable(runs, 'small'),
      mixed: uploadTable(runs, 'mixed'),
      large: uploadTable(runs, 'large'),
      noop: noopTable(runs),
      huge: hugeTable(runs),
    },
  });
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'RESULTS.md'), markdown);
  await writeFile(join(values.out, 'results.json'), `${JSON.stringify({ started, args, facts, runs }, null, 2)}\n`);
  process.stdout.write(markdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
