/**
 * The SFTP benchmark: the daemon (`storage.type = "sftp"`) against `rclone copy` to an sftp
 * remote (its defaults, then `--transfers 32`) and OpenSSH's `sftp -b` batch put, on the
 * same fixtures, into the same local sshd (test/helpers/sshd.ts), interleaved.
 *
 *   npm run bench:sftp -- [--only small,single] [--repeat 3] [--contenders daemon,daemon-readback,rclone,rclone-32,sftp]
 *
 * rclone-32-nohash adds `--sftp-disable-hashcheck`. daemon-readback is the daemon with `sftp.verify = "readback"`: rclone's defaults check each
 * upload's MD5 on the server (remote `md5sum`), which only readback matches.
 *
 * small: 500 files of the bench's Nix fixture `small` (250 narinfos and their NARs, 4 KiB
 * each: rclone's default run checks every upload with a remote `md5sum`, one SSH exec
 * per file, ~0.2 s each here, so the full 2,000 would take minutes); single: one 200 MiB NAR.
 * Measured per run: wall time, CPU of sshd (the listener plus its reaped sessions) and of
 * the client (the daemon process; a peer's whole process tree).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureFixture, warmPageCache, type Fixture, type ManifestEntry } from './lib/fixtures.js';
import { startServers } from './lib/servers.js';
import { projectRoot, startDaemon } from './lib/daemon.js';
import { runCommand } from './lib/peers.js';
import { childrenCpuSeconds, CLOCK_TICKS, cpuSeconds, machineInfo } from './lib/proc.js';
import { descendants, startSshd, type SshServer } from '../test/helpers/sshd.js';
import { waitFor } from '../test/helpers/servers.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'small,single' },
    repeat: { type: 'string', default: '3' },
    contenders: { type: 'string', default: 'daemon,daemon-readback,rclone,rclone-32,rclone-32-nohash,sftp' },
    seed: { type: 'string', default: '9' },
    out: { type: 'string', default: join(projectRoot, 'bench') },
    'work-dir': { type: 'string', default: join(projectRoot, 'bench', '.work') },
  },
});

const MiB = 1024 * 1024;
const workDir = values['work-dir'];
const repeat = Number(values.repeat);
const contenders = values.contenders.split(',').map((name) => name.trim());
const log = (line: string) => process.stderr.write(`[bench-sftp ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Run {
  scenario: string;
  contender: string;
  repeat: number;
  seconds: number;
  files: number;
  bytes: number;
  sshdCpuSeconds: number;
  clientCpuSeconds: number;
}

/** The listener's CPU plus its reaped sessions' (utime, stime, cutime, cstime). */
function sshdCpu(pid: number): number {
  const text = execFileSync('cat', [`/proc/${pid}/stat`]).toString();
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** Sessions end after their client disconnects; their CPU counts once sshd reaped them. */
async function sessionsReaped(pid: number): Promise<void> {
  await waitFor(async () => (await descendants(pid)).length === 0, { timeoutMs: 30_000, intervalMs: 20, what: 'sshd sessions to end' });
}

/** The first 250 narinfo/NAR pairs of the bench's `small` fixture, hard-linked into a folder of their own. */
async function smallFixture(): Promise<Fixture> {
  const full = await ensureFixture(workDir, 'small', Number(values.seed), log);
  const narinfos = full.files.filter((file) => file.key.endsWith('.narinfo')).slice(0, 250);
  const dir = join(workDir, 'fixtures', 'sftp-small');
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'nar'), { recursive: true });
  const files: ManifestEntry[] = [];
  for (const narinfo of narinfos) {
    const url = /^URL: (.+)$/m.exec(await readFile(join(full.dir, narinfo.key), 'utf8'))![1]!;
    const nar = full.files.find((file) => file.key === url)!;
    for (const file of [narinfo, nar]) {
      await link(join(full.dir, file.key), join(dir, file.key));
      files.push(file);
    }
  }
  return { name: 'small', dir, files, totalBytes: files.reduce((sum, file) => sum + file.size, 0) };
}

async function singleFixture(): Promise<Fixture> {
  const dir = join(workDir, 'fixtures', 'sftp-single');
  const manifest = join(workDir, 'fixtures', 'sftp-single.manifest.json');
  try {
    const files = JSON.parse(await readFile(manifest, 'utf8')) as ManifestEntry[];
    return { name: 'large', dir, files, totalBytes: files[0]!.size };
  } catch {
    // generate below
  }
  await mkdir(join(dir, 'nar'), { recursive: true });
  const bytes = randomBytes(200 * MiB);
  const key = 'nar/0sftpbench200mib0000000000000.nar.xz';
  await writeFile(join(dir, key), bytes);
  const files = [{ key, size: bytes.length, md5: createHash('md5').update(bytes).digest('hex') }];
  await writeFile(manifest, JSON.stringify(files));
  return { name: 'large', dir, files, totalBytes: bytes.length };
}

async function verify(server: SshServer, target: string, fixture: Fixture): Promise<void> {
  for (const file of fixture.files) {
    const content = await readFile(join(server.root, target, file.key));
    if (content.length !== file.size || createHash('md5').update(content).digest('hex') !== file.md5) {
      throw new Error(`${target}/${file.key} differs from the fixture`);
    }
  }
}

async function runContender(
  contender: string,
  fixture: Fixture,
  target: string,
  server: SshServer,
  servers: Awaited<ReturnType<typeof startServers>>,
): Promise<{ seconds: number; client: number }> {
  const knownHosts = server.knownHostsFile;
  if (contender === 'daemon' || contender === 'daemon-readback') {
    const daemon = await startDaemon(servers, {
      bucket: 'unused',
      logFile: join(workDir, 'daemon-sftp.log'),
      workDir,
      config: {
        storage: { type: 'sftp' },
        sftp: {
          host: '127.0.0.1',
          port: server.port,
          username: server.username,
          private_key_file: server.clientKeyFile,
          known_hosts: knownHosts,
          verify: contender === 'daemon' ? 'size' : 'readback',
        },
      },
    });
    try {
      const before = cpuSeconds(daemon.pid);
      const started = performance.now();
      const reply = await daemon.publish([{ from: fixture.dir, to: `${target}/` }]);
      if (reply.status !== 200) throw new Error(`publish answered ${reply.status}: ${JSON.stringify(reply.body)}`);
      const done = await daemon.waitBatchDone(reply.body.batch_id, 600_000);
      const seconds = (performance.now() - started) / 1000;
      if (done.failed > 0 || done.uploaded !== fixture.files.length) throw new Error(`daemon batch: ${JSON.stringify(done)}`);
      return { seconds, client: cpuSeconds(daemon.pid) - before };
    } finally {
      await daemon.stop();
    }
  }
  const childrenBefore = childrenCpuSeconds();
  let result;
  if (contender.startsWith('rclone')) {
    const env = {
      ...process.env,
      RCLONE_CONFIG_B_TYPE: 'sftp',
      RCLONE_CONFIG_B_HOST: '127.0.0.1',
      RCLONE_CONFIG_B_PORT: String(server.port),
      RCLONE_CONFIG_B_USER: server.username,
      RCLONE_CONFIG_B_KEY_FILE: server.clientKeyFile,
      RCLONE_CONFIG_B_KNOWN_HOSTS_FILE: knownHosts,
    };
    const extra = contender === 'rclone' ? [] : ['--transfers', '32', '--checkers', '32'];
    // Without the remote `md5sum` after each upload (what the daemon's default verify = "size" also skips).
    if (contender === 'rclone-32-nohash') extra.push('--sftp-disable-hashcheck');
    result = await runCommand('rclone', ['copy', fixture.dir, `b:${target}`, ...extra], env);
  } else if (contender === 'sftp') {
    const batch = join(workDir, 'sftp-batch');
    await writeFile(batch, `put -r ${fixture.dir} ${target}\n`);
    result = await runCommand(
      'sftp',
      [
        '-q',
        '-b',
        batch,
        '-P',
        String(server.port),
        '-i',
        server.clientKeyFile,
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        `${server.username}@127.0.0.1`,
      ],
      process.env,
    );
  } else {
    throw new Error(`unknown contender ${contender}`);
  }
  if (result.code !== 0) throw new Error(`${contender} exited with ${result.code}: ${result.stderr.slice(-2000)}`);
  return { seconds: result.seconds, client: childrenCpuSeconds() - childrenBefore };
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function table(runs: Run[], scenario: string): string {
  const rows = contenders.map((contender) => {
    const mine = runs.filter((run) => run.scenario === scenario && run.contender === contender);
    const seconds = median(mine.map((run) => run.seconds));
    const first = mine[0]!;
    const rate =
      scenario === 'single' ? `${(first.bytes / MiB / seconds).toFixed(1)} MiB/s` : `${(first.files / seconds).toFixed(0)} files/s`;
    const pct = (value: number) => `${((100 * value) / seconds).toFixed(0)} %`;
    return `| ${contender} | ${mine.map((run) => run.seconds.toFixed(2)).join(', ')} | ${seconds.toFixed(2)} | ${rate} | ${pct(median(mine.map((run) => run.clientCpuSeconds)))} | ${pct(median(mine.map((run) => run.sshdCpuSeconds)))} |`;
  });
  return [
    '| contender | runs (s) | median (s) | rate | client CPU (% of a core) | sshd CPU (% of a core) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  await mkdir(workDir, { recursive: true });
  const servers = await startServers(workDir);
  const server = await startSshd();
  const runs: Run[] = [];
  try {
    const scenarios = values.only.split(',').map((name) => name.trim());
    for (const scenario of scenarios) {
      const fixture = scenario === 'single' ? await singleFixture() : await smallFixture();
      await warmPageCache(fixture);
      for (let round = 0; round < repeat; round += 1) {
        const order = [...contenders.slice(round % contenders.length), ...contenders.slice(0, round % contenders.length)];
        for (const contender of order) {
          const target = `${scenario}-${contender}-${round}`;
          const pid = server.pid()!;
          const sshdBefore = sshdCpu(pid);
          const { seconds, client } = await runContender(contender, fixture, target, server, servers);
          await sessionsReaped(pid);
          const sshdSeconds = sshdCpu(pid) - sshdBefore;
          await verify(server, target, fixture);
          await rm(join(server.root, target), { recursive: true, force: true });
          runs.push({
            scenario,
            contender,
            repeat: round,
            seconds,
            files: fixture.files.length,
            bytes: fixture.totalBytes,
            sshdCpuSeconds: sshdSeconds,
            clientCpuSeconds: client,
          });
          log(
            `${scenario} ${contender} #${round}: ${seconds.toFixed(2)} s, client CPU ${client.toFixed(2)} s, sshd CPU ${sshdSeconds.toFixed(2)} s`,
          );
        }
      }
    }
    const machine = machineInfo();
    const versions = {
      node: process.version,
      rclone: execFileSync('rclone', ['version']).toString().split('\n')[0],
      openssh: spawnSync('ssh', ['-V']).stderr.toString().trim() || 'unknown',
    };
    const report = [
      '# SFTP benchmark results',
      '',
      `Generated by \`npm run bench:sftp\` on ${new Date().toISOString()}: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB; ${versions.node}, ${versions.rclone}, ${versions.openssh}.`,
      'One local sshd (Debian openssh-server, internal-sftp, ed25519 host and client keys) on loopback; every contender writes to its own folder; every run verified byte for byte.',
      `Times are per run (${repeat} repeats, order rotated); tables show medians. CPU is over the timed window (sshd: listener plus its reaped sessions).`,
      '',
      ...values.only
        .split(',')
        .flatMap((scenario) => [
          `## ${scenario === 'single' ? 'single: one 200 MiB NAR' : 'small: 500 files of 4 KiB (250 narinfos, 250 NARs)'}`,
          '',
          table(runs, scenario.trim()),
          '',
        ]),
    ].join('\n');
    await writeFile(join(values.out, 'SFTP-RESULTS.md'), report);
    await writeFile(join(values.out, 'sftp-results.json'), JSON.stringify({ machine, versions, runs }, null, 2));
    process.stdout.write(`${report}\n`);
  } finally {
    await server.close();
    await servers.close();
  }
}

await main();
