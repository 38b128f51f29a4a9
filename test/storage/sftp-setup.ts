/** What the daemon-level SFTP test files share: their servers, the `[sftp]` config for a test sshd, and file checks. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before } from 'node:test';
import { startRedis, type RedisServer } from '../helpers/servers.js';
import { startSshd, type SshServer } from '../helpers/sshd.js';
import type { SftpStorageOptions } from '../../src/storage/sftp.js';

/** A redis-server and a test sshd for the file (or `describe`): started together before its tests, removed after them. */
export function useRedisAndSshd(started: (servers: { redis: RedisServer; server: SshServer }) => void): void {
  let servers: { redis: RedisServer; server: SshServer } | undefined;
  before(async () => {
    const [redis, server] = await Promise.all([startRedis(), startSshd()]);
    servers = { redis, server };
    started(servers);
  });
  after(async () => {
    await Promise.all([servers?.redis.destroy(), servers?.server.close()]);
  });
}

/** `storage.type = "sftp"` and an `[sftp]` section logging in to `server` with its client key, host checked by known_hosts. */
export function sftpConfig(server: SshServer, overrides: Record<string, unknown> = {}, port = server.port) {
  return {
    storage: { type: 'sftp' },
    sftp: {
      host: '127.0.0.1',
      port,
      username: server.username,
      private_key_file: server.clientKeyFile,
      known_hosts: server.knownHostsFile,
      ...overrides,
    },
  };
}

/** Options of an SFTP backend logging in to `server` with its client key, its host key pinned by fingerprint. */
export function sftpStorageOptions(server: SshServer, overrides: Partial<SftpStorageOptions> = {}): SftpStorageOptions {
  return {
    host: '127.0.0.1',
    port: server.port,
    username: server.username,
    privateKey: server.clientKey,
    connectTimeoutMs: 10_000,
    keepaliveIntervalMs: 10_000,
    hostKey: { host: '127.0.0.1', port: server.port, knownHosts: '', fingerprint: server.fingerprint, insecure: false },
    connections: 2,
    root: '',
    enableResume: true,
    verify: 'size',
    ...overrides,
  };
}

/** Every regular file below `root`, relative paths. */
export async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

export async function md5OfPath(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
