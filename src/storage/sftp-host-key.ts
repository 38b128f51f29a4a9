import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** How the SFTP server's host key is checked (`[sftp] known_hosts`, `host_key_fingerprint`, `insecure_ignore_host_key`). */
export interface HostKeyPolicy {
  host: string;
  port: number;
  /** A known_hosts file; empty: the running user's `~/.ssh/known_hosts`. */
  knownHosts: string;
  /** `SHA256:<base64>` as `ssh-keygen -l` prints it; when set, known_hosts is not read. */
  fingerprint: string;
  /** Accept any key (the Go daemon's behaviour): anyone on the path can take the uploads. */
  insecure: boolean;
}

/** The key's SHA256 fingerprint as OpenSSH prints it: `SHA256:` and unpadded base64. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, ...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** How known_hosts names a host: bare on port 22, `[host]:port` otherwise. */
function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

/** Whether one host field of a known_hosts line (comma list, patterns, `!negation`, or `|1|salt|hash`) names `name`. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (globToRegExp(pattern.slice(1)).test(name)) return false;
    } else if (globToRegExp(pattern).test(name)) matched = true;
  }
  return matched;
}

interface KnownKey {
  revoked: boolean;
  type: string;
  blob: Buffer;
}

/** The keys a known_hosts text lists for `name` (certificate authorities are not supported and skipped). */
export function knownKeysFor(text: string, name: string): KnownKey[] {
  const keys: KnownKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith('@')) marker = fields.shift();
    const [hosts, type, base64] = fields;
    if (hosts === undefined || type === undefined || base64 === undefined || marker === '@cert-authority') continue;
    if (!hostFieldMatches(hosts, name)) continue;
    keys.push({ revoked: marker === '@revoked', type, blob: Buffer.from(base64, 'base64') });
  }
  return keys;
}

/**
 * Decides whether the server's key is accepted: undefined when it is, else why not (an
 * operator-facing message that prints the fingerprint to pin).
 */
export function hostKeyProblem(policy: HostKeyPolicy, keyBlob: Buffer): string | undefined {
  if (policy.insecure) return undefined;
  const fingerprint = sha256Fingerprint(keyBlob);
  const type = keyTypeOf(keyBlob);
  const where = `${policy.host}:${policy.port}`;
  if (policy.fingerprint !== '') {
    if (policy.fingerprint.replace(/=+$/, '') === fingerprint) return undefined;
    return `host key of ${where} does not match sftp.host_key_fingerprint: the server offers ${type} ${fingerprint}, the config pins ${policy.fingerprint}`;
  }
  const file = policy.knownHosts === '' ? join(homedir(), '.ssh', 'known_hosts') : policy.knownHosts;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return `host key of ${where} cannot be verified: no sftp.host_key_fingerprint and no known_hosts file at ${file}; the server offers ${type} ${fingerprint} (set sftp.host_key_fingerprint = "${fingerprint}" after checking it on the server with ssh-keygen -l)`;
  }
  const known = knownKeysFor(text, knownHostsName(policy.host, policy.port));
  if (known.some((key) => key.revoked && key.blob.equals(keyBlob)))
    return `host key of ${where} is marked @revoked in ${file}: ${fingerprint}`;
  if (known.some((key) => !key.revoked && key.blob.equals(keyBlob))) return undefined;
  if (known.some((key) => !key.revoked && key.type === type)) {
    return `host key of ${where} CHANGED: ${file} lists another ${type} key, the server offers ${fingerprint}; someone may be intercepting the connection`;
  }
  return `host key of ${where} is not in ${file}: the server offers ${type} ${fingerprint} (set sftp.host_key_fingerprint = "${fingerprint}" after checking it on the server with ssh-keygen -l, or add the host to known_hosts)`;
}
