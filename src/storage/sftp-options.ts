import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.js';
import type { SftpStorageOptions } from './sftp.js';

/** SSH keep-alive interval: a dead connection is noticed after three unanswered ones (45 s). */
const KEEPALIVE_INTERVAL_MS = 15_000;

/**
 * A secret from its key, or else from its file. `loadConfig` has already read the files
 * into the keys; a config built by `validateConfig` alone (tests, embedding) has not.
 */
function secret(value: string, file: string): string {
  return value !== '' || file === '' ? value : readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** The backend's options from the `[sftp]` section. */
export function sftpStorageOptions(section: Config['sftp']): SftpStorageOptions {
  return {
    host: section.host,
    port: section.port,
    username: section.username,
    password: secret(section.password, section.password_file),
    privateKey: secret(section.private_key, section.private_key_file),
    passphrase: secret(section.private_key_passphrase, section.private_key_passphrase_file),
    connectTimeoutMs: section.connection_timeout * 1000,
    keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
    hostKey: {
      host: section.host,
      port: section.port,
      knownHosts: section.known_hosts,
      fingerprint: section.host_key_fingerprint,
      insecure: section.insecure_ignore_host_key,
    },
    connections: section.connections,
    root: section.root,
    enableResume: section.enable_resume,
    verify: section.verify,
  };
}
