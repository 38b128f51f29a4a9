/**
 * `npm run bench:scrub`: scrub of a 100,000-key Nix cache (size-only: time, the daemon's
 * peak RSS, Redis memory for the scratch), and the `--hashes` rate in MiB/s next to
 * `sha256sum` over the same files, in the same run. Fixtures are written straight into
 * s3rver's folder (its on-disk format), which is far faster than 100,000 PUTs and is not
 * what is measured. Writes bench/SCRUB-RESULTS.md and bench/scrub-results.json.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { nixBase32 } from '../src/nix/base32.js';
import { waitFor } from '../test/helpers/servers.js';
import { startServers, type BenchServers } from './lib/servers.js';
import { startDaemon } from './lib/daemon.js';
import { machineInfo, peakRssMiB } from './lib/proc.js';
import { median } from './lib/report.js';

const run = promisify(execFile);
const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';
const MiB = 1024 * 1024;

function storeHash(): string {
  const bytes = randomBytes(32);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte & 31];
  return out;
}

/** Writes one object the way s3rver stores it (`<name>._S3rver_object`). */
async function putRaw(servers: BenchServers, bucket: string, key: string, body: Buffer | string): Promise<string> {
  const parts = key.split('/');
  const name = parts.pop()!;
  const folder = join(servers.s3.dir, bucket, ...parts);
  await mkdir(folder, { recursive: true });
  const file = join(folder, `${name}._S3rver_object`);
  await writeFile(file, body);
  return file;
}

/** A cache of `pairs` narinfos with NARs of `narBytes(i)` bytes; `missing` NARs left out. Returns the NAR files on disk. */
async function writeCache(
  servers: BenchServers,
  bucket: string,
  pairs: number,
  narBytes: (index: number) => number,
  missing: number,
): Promise<string[]> {
  await servers.createBucket(bucket);
  await putRaw(servers, bucket, 'nix-cache-info', 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n');
  const files: string[] = [];
  for (let index = 0; index < pairs; index += 1) {
    const nar = randomBytes(narBytes(index));
    const fileHash = nixBase32(createHash('sha256').update(nar).digest());
    const hash = storeHash();
    const narKey = `nar/${fileHash}.nar.xz`;
    const narinfo = [
      `StorePath: /nix/store/${hash}-bench-${index}`,
      `URL: ${narKey}`,
      'Compression: xz',
      `FileHash: sha256:${fileHash}`,
      `FileSize: ${nar.length}`,
      `NarHash: sha256:${fileHash}`,
      `NarSize: ${nar.length}`,
      'References: ',
      '',
    ].join('\n');
    await putRaw(servers, bucket, `${hash}.narinfo`, narinfo);
    if (index >= missing) files.push(await putRaw(servers, bucket, narKey, nar));
  }
  return files;
}

interface ScrubRun {
  seconds: number;
  peakRssMiB: number;
  startRssMiB: number;
  redisPeakMiB: number;
  objects: number;
  problems: number;
  bytesHashed: number;
}

async function redisUsedMiB(servers: BenchServers): Promise<number> {
  const info = await servers.redis.client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / MiB;
}

async function scrubOnce(
  servers: BenchServers,
  workDir: string,
  bucket: string,
  body: Record<string, unknown>,
  nodeFlags: string[] = [],
): Promise<ScrubRun> {
  const daemon = await startDaemon(servers, { bucket, workDir, logFile: join(workDir, 'scrub-daemon.log'), nodeFlags });
  try {
    const startRss = peakRssMiB(daemon.pid);
    const redisBefore = await redisUsedMiB(servers);
    let redisPeak = 0;
    const started = performance.now();
    const reply = await fetch(`${daemon.url}/scrub`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const { scrub_id: id } = (await reply.json()) as { scrub_id: string };
    const status = (await waitFor(
      async () => {
        redisPeak = Math.max(redisPeak, (await redisUsedMiB(servers)) - redisBefore);
        const current = (await (await fetch(`${daemon.url}/scrubs/${id}`)).json()) as { state: string; result?: any; error?: string };
        return current.state === 'running' ? undefined : current;
      },
      { timeoutMs: 1_800_000, intervalMs: 100, what: 'scrub to finish' },
    ))!;
    const seconds = (performance.now() - started) / 1000;
    if (status.state !== 'done') throw new Error(`scrub ${status.state}: ${status.error}`);
    return {
      seconds,
      peakRssMiB: peakRssMiB(daemon.pid),
      startRssMiB: startRss,
      redisPeakMiB: redisPeak,
      objects: status.result.objects,
      problems: status.result.problem_count,
      bytesHashed: status.result.bytes_hashed ?? 0,
    };
  } finally {
    await daemon.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repeat: { type: 'string', default: '3' },
      keys: { type: 'string', default: '100000' },
      'hash-mib': { type: 'string', default: '256' },
      /** Node flags for the daemon, e.g. `--max-old-space-size=64` to show the scrub's heap does not grow with the bucket. */
      'node-flags': { type: 'string', default: '' },
      'work-dir': { type: 'string', default: join(process.cwd(), 'bench', '.work', 'scrub') },
      out: { type: 'string', default: join(process.cwd(), 'bench') },
    },
  });
  const repeat = Number(values.repeat);
  const pairs = Math.floor((Number(values.keys) - 1) / 2) + 1; // narinfos; one NAR fewer (one missing): keys = 2 * pairs
  const workDir = values['work-dir'];
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const servers = await startServers(workDir);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  try {
    say(`writing a cache of ${pairs} narinfos and ${pairs - 1} NARs`);
    await writeCache(servers, 'scrub-big', pairs, (index) => 64 + (index % 449), 1);
    const sizeRuns: ScrubRun[] = [];
    for (let index = 0; index < repeat; index += 1) {
      const nodeFlags = values['node-flags'] === '' ? [] : values['node-flags'].split(' ');
      const result = await scrubOnce(servers, workDir, 'scrub-big', { prefix: '' }, nodeFlags);
      say(`size-only: ${result.objects} objects in ${result.seconds.toFixed(1)} s, peak RSS ${result.peakRssMiB.toFixed(0)} MiB`);
      sizeRuns.push(result);
    }
    await servers.removeBucket('scrub-big');

    const narCount = Math.max(1, Math.round(Number(values['hash-mib']) / 4));
    say(`writing ${narCount} NARs of 4 MiB for --hashes`);
    const files = await writeCache(servers, 'scrub-hash', narCount, () => 4 * MiB, 0);
    const hashRuns: Array<ScrubRun & { mibPerSecond: number; sha256sum: number; sha256sumParallel: number }> = [];
    for (let index = 0; index < repeat; index += 1) {
      const result = await scrubOnce(servers, workDir, 'scrub-hash', { prefix: '', hashes: true });
      const mib = (narCount * 4 * MiB) / MiB;
      let started = performance.now();
      await run('sha256sum', files, { maxBuffer: 64 * MiB });
      const sha256sum = mib / ((performance.now() - started) / 1000);
      started = performance.now();
      await run('sh', ['-c', 'printf "%s\\n" "$@" | xargs -P4 -n8 sha256sum > /dev/null', 'sh', ...files], { maxBuffer: 64 * MiB });
      const sha256sumParallel = mib / ((performance.now() - started) / 1000);
      const mibPerSecond = mib / result.seconds;
      say(
        `--hashes: ${mib} MiB in ${result.seconds.toFixed(1)} s = ${mibPerSecond.toFixed(0)} MiB/s; sha256sum ${sha256sum.toFixed(0)} MiB/s, 4 in parallel ${sha256sumParallel.toFixed(0)} MiB/s`,
      );
      hashRuns.push({ ...result, mibPerSecond, sha256sum, sha256sumParallel });
    }
    await servers.removeBucket('scrub-hash');

    const machine = machineInfo();
    const m = (values: number[], digits = 1) => median(values).toFixed(digits);
    const report = `# Scrub benchmark

Generated by \`npm run bench:scrub\` (bench/scrub.ts) on ${new Date().toISOString().slice(0, 10)}: ${machine.cpuModel}, ${machine.cpus} CPUs, ${machine.memoryGiB} GiB,
Node ${process.version}${values['node-flags'] === '' ? '' : ` (daemon flags ${values['node-flags']})`}; s3rver and redis-server on loopback, started by the bench; medians of ${repeat} runs, a fresh daemon per run.
The machine is shared (two other sessions build and test on its two cores): figures are a floor, not a ceiling.

## Size-only scrub of ${2 * pairs} keys

${pairs} narinfos, ${pairs - 1} NARs (64-512 B), \`nix-cache-info\`; one NAR missing (found: ${sizeRuns[0]!.problems} problem).
Timed from \`POST /scrub\` to \`GET /scrubs/{id}\` saying done; RSS is the daemon's VmHWM (peak over its life).

| keys | time (s) | keys/s | daemon peak RSS (MiB) | daemon RSS after start (MiB) | Redis scratch peak (MiB) |
| ---- | -------- | ------ | --------------------- | ---------------------------- | ------------------------ |
| ${sizeRuns[0]!.objects} | ${m(sizeRuns.map((r) => r.seconds))} | ${m(
      sizeRuns.map((r) => r.objects / r.seconds),
      0,
    )} | ${m(
      sizeRuns.map((r) => r.peakRssMiB),
      0,
    )} | ${m(
      sizeRuns.map((r) => r.startRssMiB),
      0,
    )} | ${m(sizeRuns.map((r) => r.redisPeakMiB))} |

## \`--hashes\`

${narCount} NARs of 4 MiB (${narCount * 4} MiB), \`scrub.hash_concurrency\` = 4 (default), read from s3rver over HTTP;
\`sha256sum\` reads the same files from s3rver's folder (page cache), one process, then four in parallel.

| scrub --hashes (MiB/s) | sha256sum (MiB/s) | 4 x sha256sum (MiB/s) | daemon peak RSS (MiB) |
| ---------------------- | ----------------- | --------------------- | --------------------- |
| ${m(
      hashRuns.map((r) => r.mibPerSecond),
      0,
    )} | ${m(
      hashRuns.map((r) => r.sha256sum),
      0,
    )} | ${m(
      hashRuns.map((r) => r.sha256sumParallel),
      0,
    )} | ${m(
      hashRuns.map((r) => r.peakRssMiB),
      0,
    )} |
`;
    await writeFile(join(values.out, 'SCRUB-RESULTS.md'), report);
    await writeFile(join(values.out, 'scrub-results.json'), `${JSON.stringify({ machine, sizeRuns, hashRuns }, null, 2)}\n`);
    process.stdout.write(report);
  } finally {
    await servers.close();
  }
}

await main();
