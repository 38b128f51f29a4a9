/**
 * The benchmark over a wide-area link: every contender talks to the S3 server through
 * the delay proxy (lib/delay-proxy.ts: 25 ms each way by default, 50 ms RTT), on s3rver
 * and on a real Ceph RGW (test/helpers/rgw.ts), in one run, interleaved. See bench/README.md.
 *
 *   npm run bench:wan -- [--servers s3rver,rgw] [--only small,pair,mixed,large] [--repeat 3]
 *                        [--delay-ms 25] [--mbit N] [--contenders daemon,rclone,rclone-32,aws-sync,sdk-32] [--trace]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ensureFixture, warmPageCache, type Fixture, type FixtureName, type ManifestEntry } from './lib/fixtures.js';
import { startServers, type BenchServers } from './lib/servers.js';
import { parseDaemonVariant, projectRoot, startDaemon } from './lib/daemon.js';
import { runPeer, type PeerName } from './lib/peers.js';
import { startDelayProxy, type DelayProxy } from './lib/delay-proxy.js';
import { environmentFacts } from './lib/results.js';
import { childrenCpuSeconds, cpuSeconds } from './lib/proc.js';
import { rgwClient, startRgw, stopRgw } from '../test/helpers/rgw.js';
import { createHash } from 'node:crypto';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 's3rver,rgw' },
    only: { type: 'string', default: 'small,pair,mixed,large' },
    repeat: { type: 'string', default: '3' },
    'delay-ms': { type: 'string', default: '25' },
    mbit: { type: 'string' },
    contenders: { type: 'string', default: 'daemon,rclone,rclone-32,aws-sync,sdk-32' },
    seed: { type: 'string', default: '9' },
    /** Logs each pair publish's timeline at the proxy: connections, requests, responses. */
    trace: { type: 'boolean', default: false },
    out: { type: 'string', default: join(projectRoot, 'bench') },
    'work-dir': { type: 'string', default: join(projectRoot, 'bench', '.work') },
  },
});

const serverNames = values.servers.split(',') as Array<'s3rver' | 'rgw'>;
const scenarios = values.only.split(',');
const repeat = Number(values.repeat);
const delayMs = Number(values['delay-ms']);
const mbit = values.mbit === undefined ? undefined : Number(values.mbit);
const contenders = values.contenders.split(',');
const workDir = values['work-dir'];
const seed = Number(values.seed);
const log = (line: string) => process.stderr.write(`[wan ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface WanRun {
  server: string;
  scenario: string;
  contender: string;
  repeat: number;
  seconds: number;
  verified: boolean;
  /** CPU seconds of the S3 server's processes during the run (s3rver; radosgw + ceph-osd + ceph-mon). */
  serverCpu?: number;
  /** CPU seconds of the contender during the run (the daemon process; a peer and its children). */
  clientCpu?: number;
  /** HTTP requests that crossed the link, by method. */
  requests?: Record<string, number>;
  note?: string;
}
const runs: WanRun[] = [];
const fixtureFiles = new Map<string, number>();
const traceEvents: Array<{ at: number; connection: number; what: string }> = [];
let buckets = 0;

async function listObjects(client: S3Client, bucket: string) {
  const objects: Array<{ key: string; size: number; etag: string }> = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const object of page.Contents ?? [])
      objects.push({ key: object.Key!, size: object.Size ?? -1, etag: (object.ETag ?? '').replace(/"/g, '') });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return objects;
}

/** Same keys and sizes, and every ETag the MD5 or a multipart composition (whose part size differs per contender). */
function verify(expected: ManifestEntry[], listed: Array<{ key: string; size: number; etag: string }>): string | undefined {
  const byKey = new Map(listed.map((object) => [object.key, object]));
  if (listed.length !== expected.length) return `${listed.length} objects, expected ${expected.length}`;
  for (const file of expected) {
    const object = byKey.get(file.key);
    if (object === undefined) return `missing ${file.key}`;
    if (object.size !== file.size) return `${file.key}: size ${object.size}`;
    if (object.etag !== file.md5 && !/^[0-9a-f]{32}-\d+$/.test(object.etag)) return `${file.key}: ETag ${object.etag}`;
  }
  return undefined;
}

/** The RGW server of a run, in the shape the harness's helpers take (redis from `base`). */
async function withRgw(base: BenchServers): Promise<{ servers: BenchServers; pids: Record<string, number>; stop: () => Promise<void> }> {
  const started = Date.now();
  const info = await startRgw(workDir);
  log(`rgw up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${info.endpoint} (radosgw pid ${info.pids.rgw})`);
  const client = rgwClient(info);
  const servers: BenchServers = {
    ...base,
    s3: {
      port: info.port,
      pid: info.pids.rgw,
      endpoint: info.endpoint,
      dir: info.dir,
      client,
      accessKey: info.accessKey,
      secretKey: info.secretKey,
    },
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async removeBucket(name) {
      // memstore keeps every object in the OSD's RAM: empty and drop each bucket
      for (;;) {
        const objects = await client.send(new ListObjectsV2Command({ Bucket: name }));
        const keys = (objects.Contents ?? []).map((object) => ({ Key: object.Key! }));
        if (keys.length === 0) break;
        await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: name }));
    },
    listObjects: async (bucket) => (await listObjects(client, bucket)).map((object) => ({ ...object, lastModified: 0 })),
    async close() {
      client.destroy();
      await base.close();
    },
  };
  return { servers, pids: info.pids, stop: () => stopRgw(info) };
}

/** One narinfo and its NAR (256 KiB), unique per repeat so nothing is skipped. */
async function pairFixture(index: number): Promise<Fixture> {
  const dir = join(workDir, 'fixtures', `pair-${index}`);
  await mkdir(join(dir, 'nar'), { recursive: true });
  const hash = `p${index}`.padEnd(32, '0');
  const nar = createHash('sha256').update(String(index)).digest();
  const narBytes = Buffer.concat(Array.from({ length: 8192 }, () => nar));
  const info = `StorePath: /nix/store/${hash}-pkg\nURL: nar/${hash}.nar.xz\nCompression: xz\nNarHash: sha256:${'0'.repeat(52)}\nNarSize: ${narBytes.length}\n`;
  await writeFile(join(dir, `${hash}.narinfo`), info);
  await writeFile(join(dir, 'nar', `${hash}.nar.xz`), narBytes);
  const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
  return {
    name: 'small',
    dir,
    totalBytes: narBytes.length + info.length,
    files: [
      { key: `${hash}.narinfo`, size: info.length, md5: md5(info) },
      { key: `nar/${hash}.nar.xz`, size: narBytes.length, md5: md5(narBytes) },
    ],
  };
}

/** CPU seconds used so far by the processes of the S3 server under test. */
function serverCpuSeconds(pids: number[]): number {
  return pids.reduce((total, pid) => total + cpuSeconds(pid), 0);
}

async function runOne(
  servers: BenchServers,
  proxy: DelayProxy,
  serverName: string,
  serverPids: number[],
  scenario: string,
  fixture: Fixture,
  contender: string,
  rep: number,
) {
  buckets += 1;
  const bucket = `wan-${scenario}-${contender}-${buckets}-${process.pid}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63);
  await servers.createBucket(bucket);
  const variant = parseDaemonVariant(contender);
  let seconds: number;
  let note: string | undefined;
  let clientCpu: number;
  let serverCpu: number;
  if (variant !== undefined) {
    const daemon = await startDaemon(
      { ...servers, s3: { ...servers.s3, endpoint: proxy.endpoint } },
      { bucket, config: variant, logFile: join(workDir, 'wan-daemon.log'), workDir },
    );
    try {
      proxy.resetRequests();
      const cpuBefore = { client: cpuSeconds(daemon.pid), server: serverCpuSeconds(serverPids) };
      const started = performance.now();
      const reply = await daemon.publish([{ from: fixture.dir, to: '/' }]);
      if (reply.status !== 200) throw new Error(`publish answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      const done = await daemon.waitBatchDone(reply.body.batch_id, 30 * 60_000);
      seconds = (performance.now() - started) / 1000;
      clientCpu = cpuSeconds(daemon.pid) - cpuBefore.client;
      serverCpu = serverCpuSeconds(serverPids) - cpuBefore.server;
      if (done.failed > 0) note = `${done.failed} failed`;
    } finally {
      await daemon.stop();
    }
  } else {
    proxy.resetRequests();
    const cpuBefore = { client: childrenCpuSeconds(), server: serverCpuSeconds(serverPids) };
    const result = await runPeer(
      contender as PeerName,
      { endpoint: proxy.endpoint, workDir, accessKey: servers.s3.accessKey, secretKey: servers.s3.secretKey },
      fixture.dir,
      bucket,
    );
    clientCpu = childrenCpuSeconds() - cpuBefore.client;
    serverCpu = serverCpuSeconds(serverPids) - cpuBefore.server;
    if (result.code !== 0) throw new Error(`${contender} exited with ${result.code}: ${result.stderr.slice(0, 2000)}`);
    seconds =
      contender === 'sdk-32' ? (JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number }).seconds : result.seconds;
  }
  const requests = { ...proxy.requests };
  const problem = verify(fixture.files, await listObjects(servers.s3.client, bucket));
  await servers.removeBucket(bucket);
  const run: WanRun = {
    server: serverName,
    scenario,
    contender,
    repeat: rep,
    seconds,
    verified: problem === undefined,
    serverCpu,
    clientCpu,
    requests,
    ...(note || problem ? { note: [note, problem].filter(Boolean).join('; ') } : {}),
  };
  runs.push(run);
  const perFile = Object.values(requests).reduce((a, b) => a + b, 0) / fixture.files.length;
  log(
    `${serverName} ${scenario} #${rep} ${contender}: ${seconds.toFixed(2)} s, server CPU ${serverCpu.toFixed(2)} s, client CPU ${clientCpu.toFixed(2)} s, ${perFile.toFixed(2)} requests/file ${JSON.stringify(requests)}${run.verified ? ', verified' : `, VERIFY FAILED ${problem}`}${note ? ` (${note})` : ''}`,
  );
}

/**
 * One narinfo + NAR pair published, from POST /publish until its batch is done (the
 * batch's own `finished_at`): first by a daemon just started and ready (`/readyz`, as a
 * service manager would wait for: its storage probe made one connection: "first"), then
 * by the same daemon with its connections open ("warm", as a busy daemon sees it), then
 * after the proxy cut every connection, as a server's idle timeout does to a daemon left
 * idle ("new connection": one TCP handshake more; over TLS, one or two more).
 */
async function pairScenario(servers: BenchServers, proxy: DelayProxy, serverName: string) {
  const pairs = Math.max(repeat, 5);
  const publishes = [
    { contender: 'daemon (first)', drop: false },
    { contender: 'daemon (warm)', drop: false },
    { contender: 'daemon (warm)', drop: false },
    { contender: 'daemon (new connection)', drop: true },
  ];
  for (let rep = 1; rep <= pairs; rep++) {
    buckets += 1;
    const bucket = `wan-pair-${buckets}-${process.pid}`;
    await servers.createBucket(bucket);
    const daemon = await startDaemon(
      { ...servers, s3: { ...servers.s3, endpoint: proxy.endpoint } },
      { bucket, logFile: join(workDir, 'wan-daemon.log'), workDir, ready: true },
    );
    try {
      for (const [index, { contender, drop }] of publishes.entries()) {
        if (drop) proxy.dropConnections();
        const fixture = await pairFixture(rep * 10 + index);
        traceEvents.length = 0;
        const tracedFrom = performance.now();
        const started = Date.now();
        const reply = await daemon.publish([{ from: fixture.dir, to: `p${index}/` }]);
        if (reply.status !== 200) throw new Error(`publish answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        const done = await daemon.waitBatchDone(reply.body.batch_id, 60_000);
        const seconds = (done.finishedAt - started) / 1000;
        const listed = (await listObjects(servers.s3.client, bucket)).filter((object) => object.key.startsWith(`p${index}/`));
        const problem = verify(
          fixture.files.map((file) => ({ ...file, key: `p${index}/${file.key}` })),
          listed,
        );
        const verified = problem === undefined && done.failed === 0;
        runs.push({
          server: serverName,
          scenario: 'pair',
          contender,
          repeat: rep,
          seconds,
          verified,
          ...(verified ? {} : { note: problem ?? 'failed' }),
        });
        log(
          `${serverName} pair #${rep} ${contender}: ${(seconds * 1000).toFixed(0)} ms${verified ? ', verified' : `, VERIFY FAILED ${problem}`}`,
        );
        for (const event of values.trace ? traceEvents : [])
          log(`  +${(event.at - tracedFrom).toFixed(0).padStart(4)} ms  #${event.connection} ${event.what.slice(0, 120)}`);
      }
    } finally {
      await daemon.stop();
    }
    await servers.removeBucket(bucket);
  }
}

const median = (numbers: number[]) => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

function table(serverName: string, scenario: string): string {
  const mine = runs.filter((run) => run.server === serverName && run.scenario === scenario);
  if (mine.length === 0) return '';
  const names = [...new Set(mine.map((run) => run.contender))];
  const medians = new Map(names.map((name) => [name, median(mine.filter((run) => run.contender === name).map((run) => run.seconds))]));
  const reference = medians.get('rclone-32');
  const measured = scenario !== 'pair';
  const files = measured ? fixtureFiles.get(scenario) : undefined;
  const rows = names.map((name) => {
    const all = mine.filter((run) => run.contender === name);
    const m = medians.get(name)!;
    const ratio = reference !== undefined ? `${(reference / m).toFixed(2)}x` : '';
    const rtts = scenario === 'pair' ? ` (${(m / ((2 * delayMs) / 1000)).toFixed(1)} RTT)` : '';
    const cells = [
      name,
      `${m.toFixed(2)}${rtts}`,
      `${Math.min(...all.map((r) => r.seconds)).toFixed(2)}-${Math.max(...all.map((r) => r.seconds)).toFixed(2)}`,
      ratio,
    ];
    if (measured) {
      const perFile = (run: WanRun) => Object.values(run.requests ?? {}).reduce((a, b) => a + b, 0) / (files ?? 1);
      cells.push(
        median(all.map((run) => run.serverCpu ?? 0)).toFixed(2),
        median(all.map((run) => run.clientCpu ?? 0)).toFixed(2),
        median(all.map(perFile)).toFixed(2),
      );
    }
    cells.push(all.every((r) => r.verified) ? 'yes' : 'NO', String(all.length));
    return `| ${cells.join(' | ')} |`;
  });
  const head = measured
    ? '| contender | median s | range s | rclone-32 / this | server CPU s | client CPU s | requests / file | verified | runs |\n|---|---|---|---|---|---|---|---|---|'
    : '| contender | median s | range s | rclone-32 / this | verified | runs |\n|---|---|---|---|---|---|';
  return `### ${scenario} on ${serverName}\n\n${head}\n${rows.join('\n')}\n`;
}

async function main() {
  await mkdir(workDir, { recursive: true });
  const startedAt = new Date();
  for (const serverName of serverNames) {
    const base = await startServers(join(workDir, `wan-${serverName}`));
    const rgw = serverName === 'rgw' ? await withRgw(base) : undefined;
    const servers = rgw?.servers ?? base;
    const serverPids = rgw !== undefined ? Object.values(rgw.pids) : [base.s3.pid];
    const proxy = await startDelayProxy({
      targetPort: servers.s3.port,
      delayMs,
      mbitPerSecond: mbit,
      ...(values.trace ? { trace: (event: (typeof traceEvents)[number]) => traceEvents.push(event) } : {}),
    });
    log(`${serverName}: delay proxy ${proxy.endpoint} -> ${servers.s3.endpoint}, ${delayMs} ms each way${mbit ? `, ${mbit} Mbit/s` : ''}`);
    try {
      for (const scenario of scenarios) {
        if (scenario === 'pair') {
          await pairScenario(servers, proxy, serverName);
          continue;
        }
        const fixture = await ensureFixture(workDir, scenario as FixtureName, seed, log);
        fixtureFiles.set(scenario, fixture.files.length);
        await warmPageCache(fixture);
        for (let rep = 1; rep <= repeat; rep++) {
          // rotated each repeat, so drift and load spread evenly over the contenders
          const order = [...contenders.slice((rep - 1) % contenders.length), ...contenders.slice(0, (rep - 1) % contenders.length)];
          for (const contender of order) await runOne(servers, proxy, serverName, serverPids, scenario, fixture, contender, rep);
        }
      }
    } finally {
      await proxy.close();
      await servers.close();
      await rgw?.stop();
    }
  }
  const facts = await environmentFacts();
  const tables = serverNames.flatMap((server) => scenarios.map((scenario) => table(server, scenario))).filter(Boolean);
  const markdown =
    `# Benchmark over a ${2 * delayMs} ms RTT link${mbit ? ` capped at ${mbit} Mbit/s` : ''} (generated by \`npm run bench:wan\`)\n\n` +
    `Started ${startedAt.toISOString()}, ${((Date.now() - startedAt.getTime()) / 60_000).toFixed(1)} min; args \`${process.argv.slice(2).join(' ')}\`.\n` +
    `Machine: ${JSON.stringify(facts)}\n\n` +
    `Every contender through the same delay proxy (bench/lib/delay-proxy.ts) in front of the server; medians of ${repeat} runs ` +
    `(pair: ${Math.max(repeat, 5)}), contenders interleaved. "rclone-32 / this" > 1 means faster than rclone --transfers 32 --checkers 32. ` +
    `Server CPU: the S3 server's processes (s3rver; radosgw, ceph-osd and ceph-mon) during the run; client CPU: the contender's ` +
    `process (the daemon's, from POST to batch done) or the peer's; requests / file: HTTP requests through the proxy per file.\n\n` +
    tables.join('\n');
  await mkdir(values.out, { recursive: true });
  await writeFile(join(values.out, 'WAN-RESULTS.md'), markdown);
  await writeFile(
    join(values.out, 'wan-results.json'),
    `${JSON.stringify({ startedAt, args: process.argv.slice(2), facts, runs }, null, 2)}\n`,
  );
  process.stdout.write(markdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
