/**
 * A real OpenSSH server (Debian's `openssh-server`) for the SFTP backend's tests: `sshd -D`
 * on a free loopback port with its own config, host key and authorized_keys in a temporary
 * folder, serving `internal-sftp` with the login folder set to `root`. Also a TCP proxy
 * that counts the bytes a client sends, to see how much of an upload really went over.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exited, freePort, track, waitForPort } from './servers.js';

const run = promisify(execFile);
export const SSHD = '/usr/sbin/sshd';

export interface SshServer {
  port: number;
  /** The folder SFTP logins start in (an empty `sftp.root` means this one). */
  root: string;
  username: string;
  /** The client's private key text (OpenSSH format, no passphrase), listed in authorized_keys. */
  clientKey: string;
  clientKeyFile: string;
  /** The same key pair encrypted with `passphrase`. */
  encryptedClientKeyFile: string;
  passphrase: string;
  /** `SHA256:...` of the host key, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** A known_hosts file naming this server (`[127.0.0.1]:port`) with its key. */
  knownHostsFile: string;
  /** Pid of the listening sshd (sessions are its children). */
  pid(): number | undefined;
  /** Stops the server and every session it serves (an outage). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same keys. */
  start(): Promise<void>;
  close(): Promise<void>;
}

async function keygen(file: string, passphrase = ''): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'sync4loong-test', '-f', file]);
}

/** Pids of every process below `pid` (sshd forks one or two per connection). */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isFinite(ppid)) continue;
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

export async function startSshd(): Promise<SshServer> {
  const folder = await mkdtemp(join(tmpdir(), 'sync4loong-sshd-'));
  const root = join(folder, 'served');
  await mkdir(root);
  await mkdir('/run/sshd', { recursive: true });
  const hostKey = join(folder, 'host_ed25519');
  const clientKeyFile = join(folder, 'client_ed25519');
  const encryptedClientKeyFile = join(folder, 'client_encrypted');
  const passphrase = 'correct horse battery staple';
  await Promise.all([keygen(hostKey), keygen(clientKeyFile), keygen(encryptedClientKeyFile, passphrase)]);
  const authorized = (await readFile(`${clientKeyFile}.pub`, 'utf8')) + (await readFile(`${encryptedClientKeyFile}.pub`, 'utf8'));
  await writeFile(join(folder, 'authorized_keys'), authorized, { mode: 0o600 });
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`])).stdout.split(' ')[1]!;
  const port = await freePort();
  const hostPublic = (await readFile(`${hostKey}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
  const knownHostsFile = join(folder, 'known_hosts');
  await writeFile(knownHostsFile, `# test server\n[127.0.0.1]:${port} ${hostPublic}\n`);
  const config = join(folder, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      'PidFile none',
      `AuthorizedKeysFile ${join(folder, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'MaxStartups 200',
      'MaxSessions 200',
      'LogLevel ERROR',
      `Subsystem sftp internal-sftp -d ${root}`,
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  async function start(): Promise<void> {
    const started = track(spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let stderr = '';
    started.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    child = started;
    try {
      await waitForPort(port);
    } catch (error) {
      throw new Error(`sshd did not start: ${stderr}`, { cause: error });
    }
  }
  async function stop(): Promise<void> {
    const current = child;
    if (current?.pid === undefined || current.exitCode !== null) return;
    // Freeze the listener and every session (a stopped process cannot fork), until no new
    // process appears, then kill them all: a session forked meanwhile would survive as an
    // orphan holding its connection open.
    const signal = (pid: number, name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // already gone
      }
    };
    signal(current.pid, 'SIGSTOP');
    const frozen = new Set<number>();
    for (;;) {
      const fresh = (await descendants(current.pid)).filter((pid) => !frozen.has(pid));
      if (fresh.length === 0) break;
      for (const pid of fresh) {
        signal(pid, 'SIGSTOP');
        frozen.add(pid);
      }
    }
    for (const pid of frozen) signal(pid, 'SIGKILL');
    current.kill('SIGKILL');
    await exited(current);
  }
  await start();
  return {
    port,
    root,
    username: userInfo().username,
    clientKey: await readFile(clientKeyFile, 'utf8'),
    clientKeyFile,
    encryptedClientKeyFile,
    passphrase,
    fingerprint,
    knownHostsFile,
    pid: () => child?.pid,
    stop,
    start,
    async close() {
      await stop();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

export interface ByteCountingProxy {
  port: number;
  /** Bytes clients sent through the proxy so far. */
  bytesUp(): number;
  close(): Promise<void>;
}

/** A TCP proxy to `targetPort` that counts what clients send (SSH overhead included). */
export async function startByteCountingProxy(targetPort: number): Promise<ByteCountingProxy> {
  let up = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data: Buffer) => (up += data.length));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bytesUp: () => up,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
