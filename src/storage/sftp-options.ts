import { readFileSync } from 'node:fs';
import type { SftpStorageOptions } from './sftp.js';

/** The `[sftp]` config section, as the schema defines it. */
export interface SftpSection {
  host: string;
  port: number;
  username: string;
  password: string;
  password_file: string;
  private_key: string;
  private_key_file: string;
  private_key_passphrase: string;
  private_key_passphrase_file: string;
  connection_timeout: number;
  enable_resume: boolean;
  root: string;
  known_hosts: string;
  host_key_fingerprint: string;
  insecure_ignore_host_key: boolean;
  connections: number;
  verify: 'size' | 'readback';
}

/** SSH keep-alive interval: a dead connection is noticed after three unanswered ones (45 s). */
const KEEPALIVE_INTERVAL_MS = 15_000;

/** A secret given inline or in a file (the file wins; one trailing newline dropped). */
function secret(inline: string, file: string): string {
  return file === '' ? inline : readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

/** The backend's options from the config section; secret files are read here (the loader may have read them already). */
export function sftpStorageOptions(section: SftpSection): SftpStorageOptions {
  return {
    host: section.host,
    port: section.port,
    username: section.username,
    password: secret(section.password, section.password_file),
    // A key file is read whole: the key's own final newline matters to some parsers.
    privateKey: section.private_key_file === '' ? section.private_key : readFileSync(section.private_key_file, 'utf8'),
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
