/**
 * The one schema of sync4loong's configuration: every key, its type, default, range and
 * documentation. The seed's sections and keys (`[redis] [s3] [daemon] [publish] [http]
 * [cache] [asynqmon]`) load unchanged with the same defaults and ranges; keys added by
 * sync4loong are marked "(new)" in their description. The configuration reference (`docs/configuration.md`)
 * is checked against this file by `test/config/readme.test.ts`.
 */
import { z } from 'zod';
import { parseCommand } from '../hooks/words.js';

/** `host:port` as Go's `hostname_port` validator accepts it; the host may be empty (`:8080`). */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/;

function hostPort(what: string) {
  return z.string().refine((value) => {
    const match = HOST_PORT.exec(value);
    if (!match) return false;
    const port = Number(match[2]);
    return port >= 1 && port <= 65535;
  }, `${what} must be host:port (for example localhost:6379 or :8080)`);
}

/** Minutes may be fractional (a short debounce in tests); the seed's integers still load. */
const positiveMinutes = z.number().positive();

const REDIS_URL = /^rediss?:\/\/[^\s]+$/;

export const redisSchema = z.object({
  addr: z
    .string()
    .refine((value) => REDIS_URL.test(value) || HOST_PORT.test(value), 'redis.addr must be host:port or a redis:// or rediss:// (TLS) URL')
    .default('localhost:6379')
    .describe('Redis server address: host:port, or (new) a `redis://[user:password@]host:port[/db]` URL; `rediss://` uses TLS.'),
  username: z.string().default('').describe('(new) Redis ACL user name; empty for the default user.'),
  password: z.string().default('').describe('Redis password. Secret: redacted in `sync4loong config` and never logged.'),
  password_file: z.string().default('').describe('(new) File holding the Redis password (trailing newline ignored); overrides `password`.'),
  db: z.number().int().min(0).max(15).default(0).describe('Redis database number, 0-15.'),
  tls: z.boolean().default(false).describe('(new) Connect with TLS (implied by a `rediss://` addr).'),
  tls_ca_file: z
    .string()
    .default('')
    .describe('(new) PEM file of the CA that signed the Redis server certificate (default: the system CAs).'),
  sentinels: z
    .array(hostPort('redis.sentinels entries'))
    .default([])
    .describe('(new) Redis Sentinel addresses (host:port); when set, `sentinel_master` names the master and `addr` is unused.'),
  sentinel_master: z.string().default('mymaster').describe('(new) Master name known to the Sentinels.'),
  cluster_nodes: z
    .array(hostPort('redis.cluster_nodes entries'))
    .default([])
    .describe(
      '(new) Redis Cluster seed nodes (host:port); when set, `addr` is unused and `key_prefix` must be hash-tagged, for example `{sync4loong}`.',
    ),
  key_prefix: z
    .string()
    .min(1)
    .regex(/^[^\s:]+$/, 'redis.key_prefix must not contain spaces or ":"')
    .default('sync4loong')
    .describe('(new) Prefix of every Redis key the daemon writes, so several deployments can share one Redis.'),
});

export const s3Schema = z.object({
  endpoint: z.string().default('').describe('S3 endpoint URL (`https://s3.example.com`). Required when `storage.type = "s3"`.'),
  region: z.string().default('').describe('S3 region. Required when `storage.type = "s3"`.'),
  bucket: z.string().default('').describe('Bucket name. Required when `storage.type = "s3"`.'),
  access_key: z.string().default('').describe('Access key id. Required when `storage.type = "s3"`. Secret: redacted.'),
  secret_key: z.string().default('').describe('Secret access key. Required when `storage.type = "s3"`. Secret: redacted.'),
  access_key_file: z.string().default('').describe('(new) File holding the access key id; overrides `access_key`.'),
  secret_key_file: z.string().default('').describe('(new) File holding the secret access key; overrides `secret_key`.'),
  force_path_style: z
    .boolean()
    .default(true)
    .describe(
      '(new) Address the bucket as `endpoint/bucket/key` (path style, as the Go daemon always did) instead of `bucket.endpoint/key`.',
    ),
  request_checksum: z
    .enum(['when_required', 'when_supported'])
    .default('when_required')
    .describe(
      '(new) `when_supported` also sends a CRC-32 of each single PUT (`x-amz-checksum-crc32`, computed before the body is sent, so Ceph RGW takes it too) and lets the AWS SDK add its checksums to multipart parts; a server that echoes the CRC-32 back has verified it. `when_required` sends Content-MD5 only, which every S3-compatible server takes.',
    ),
  trust_content_md5: z
    .boolean()
    .default(false)
    .describe(
      '(new) The server refuses a body whose Content-MD5 does not match (AWS S3, Ceph RGW, MinIO, Cloudflare R2, Garage do; s3rver does not). Then an accepted upload counts as proven even when the server answers an ETag that is not the MD5 of the content. Needed only where no other proof comes back (docs/uploads.md); without it such an upload fails for good, naming this key, and no local file is deleted.',
    ),
  request_timeout_seconds: z.number().positive().default(300).describe('(new) Socket idle timeout of one S3 request, in seconds.'),
  connect_timeout_seconds: z.number().positive().default(10).describe('(new) TCP connect timeout to S3, in seconds.'),
  multipart_threshold_mb: z
    .number()
    .int()
    .min(5)
    .max(5 * 1024)
    .default(4096)
    .describe(
      '(new) Files of this many MiB or more are uploaded in parts (multipart); smaller ones in one streamed PUT (S3 takes up to 5 GiB in one PUT). One PUT was 3.7x faster than 16 MiB parts for 512 MiB on the bench; lower it for links where a failed part should not resend the whole file.',
    ),
  part_size_mb: z
    .number()
    .int()
    .min(5)
    .max(5 * 1024)
    .default(16)
    .describe('(new) Part size of multipart uploads, in MiB.'),
  max_sockets: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(128)
    .describe(
      '(new) Keep-alive sockets to S3 per daemon, shared by uploads (`daemon.concurrency`, up to four parts each for multipart), `/check` HEADs and listings: keep it above `daemon.concurrency` so a `/check` never waits for an upload to free a socket.',
    ),
});

export const sftpSchema = z.object({
  host: z.string().default('').describe('SFTP server host name or address. Required when `storage.type = "sftp"`.'),
  port: z.number().int().min(1).max(65535).default(22).describe('SFTP server port (1-65535).'),
  username: z.string().default('').describe('Login name on the SFTP server. Required when `storage.type = "sftp"`.'),
  password: z
    .string()
    .default('')
    .describe(
      'Password of `username`. One of `password`, `password_file`, `private_key`, `private_key_file` is required with `storage.type = "sftp"`. Secret: redacted.',
    ),
  password_file: z.string().default('').describe('(new) File holding the password (trailing newline ignored); overrides `password`.'),
  private_key: z
    .string()
    .default('')
    .describe('The private key itself (its PEM/OpenSSH text, as the Go daemon took it), not a path. Secret: redacted.'),
  private_key_file: z.string().default('').describe('(new) File holding the private key; overrides `private_key`.'),
  private_key_passphrase: z.string().default('').describe('(new) Passphrase of an encrypted private key. Secret: redacted.'),
  private_key_passphrase_file: z
    .string()
    .default('')
    .describe('(new) File holding the private key passphrase (trailing newline ignored); overrides `private_key_passphrase`.'),
  connection_timeout: z.number().positive().default(30).describe('Connect (TCP and SSH handshake) timeout, in seconds (> 0).'),
  enable_resume: z
    .boolean()
    .default(true)
    .describe('Resume an interrupted upload from the size of its partial temporary file instead of sending the whole file again.'),
  root: z
    .string()
    .default('')
    .describe('(new) Remote folder the keys map below (`root/<key>`); empty: the login folder, as the Go daemon.'),
  known_hosts: z
    .string()
    .default('')
    .describe(
      "(new) OpenSSH `known_hosts` file the server's host key is checked against; empty: `~/.ssh/known_hosts` of the user running the daemon.",
    ),
  host_key_fingerprint: z
    .string()
    .default('')
    .describe(
      "(new) Pins the server's host key: its `SHA256:...` fingerprint as `ssh-keygen -l` prints it (checked instead of `known_hosts`).",
    ),
  insecure_ignore_host_key: z
    .boolean()
    .default(false)
    .describe('(new) Accept any host key (open to a man in the middle); a warning is logged at every start.'),
  connections: z.number().int().min(1).max(64).default(4).describe('(new) SSH connections in the pool (1-64).'),
  verify: z
    .enum(['size', 'readback'])
    .default('size')
    .describe(
      "(new) How an upload is verified before a local file is deleted: `size` compares the final file's size; `readback` also re-reads the final file and compares its hash.",
    ),
});

export const storageSchema = z.object({
  type: z
    .enum(['s3', 'fs', 'sftp'])
    .default('s3')
    .describe('Storage backend: `s3` uses `[s3]`; `sftp` uses `[sftp]`; (new) `fs` stores objects as files under `root`.'),
  root: z.string().default('').describe('(new) Folder used as the bucket when `type = "fs"`.'),
});

export const daemonSchema = z.object({
  log_level: z.enum(['debug', 'info', 'warn', 'error', 'fatal']).default('info').describe('Log level.'),
  ssh_command: z
    .string()
    .default('')
    .describe(
      'Command run once after uploads settle (see docs/post-sync.md): split on whitespace and run without a shell, as the Go daemon did; quotes keep a word together, other characters are passed on literally.',
    ),
  ssh_debounce_minutes: positiveMinutes
    .default(5)
    .describe('Quiet time after the last upload before the post-sync command runs, in minutes (> 0, fractions allowed).'),
  ssh_timeout_minutes: positiveMinutes
    .default(10)
    .describe("The post-sync command's whole process group is killed after this many minutes (> 0)."),
  enable_ssh_task: z.boolean().default(false).describe('Run `ssh_command` after uploads.'),
  ssh_max_wait_minutes: positiveMinutes
    .default(30)
    .describe('(new) A steady stream of uploads still runs the post-sync command at least this often, in minutes (> 0).'),
  ssh_max_retry: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(2)
    .describe('(new) Retries of a failed post-sync command after the first try (0-10).'),
  ssh_retry_backoff_seconds: z
    .number()
    .positive()
    .default(30)
    .describe('(new) First retry delay of a failed post-sync command, in seconds; doubles on each further retry.'),
  ssh_shell: z
    .boolean()
    .default(false)
    .describe('(new) Run `ssh_command` with `sh -c` (pipelines, `$VAR`, redirections) instead of splitting it into words.'),
  ssh_kill_grace_seconds: z
    .number()
    .positive()
    .default(10)
    .describe('(new) After the timeout, how long the command gets between SIGTERM and SIGKILL, in seconds.'),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(64)
    .describe(
      '(new) Uploads in flight per daemon. 64 keeps a long link busy with small files (at 50 ms RTT, 2,000 small files took 17 % less time than with 32 on Ceph RGW: bench/WAN-RESULTS.md); lower it for a server that cannot take that many requests at once (or let throttling lower it: docs/throttling.md).',
    ),
  job_lock_seconds: z
    .number()
    .min(1)
    .max(3600)
    .default(30)
    .describe('(new) Lock time of a running job, renewed while it runs: a job of a daemon that died is run again this long after.'),
  shutdown_timeout_seconds: z
    .number()
    .positive()
    .default(60)
    .describe(
      '(new) On SIGTERM/SIGINT, how long running uploads may take to finish; then they are cancelled and their jobs handed back to the queue without spending an attempt (another daemon, or this one after restart, runs them).',
    ),
  role: z
    .enum(['all', 'api', 'worker'])
    .default('all')
    .describe(
      '(new) What this daemon runs: `api` the HTTP API without workers, `worker` the upload and post-sync workers with only `/healthz`, `/readyz`, `/metrics` and `/stats` on `http.addr`, `all` both. Needs a restart.',
    ),
  watch_config: z
    .boolean()
    .default(true)
    .describe('(new) Reload the config file when it changes (see "Reloading the config"); off: only on SIGHUP.'),
  // ---- throttling (issue 20 part 2) ----
  max_upload_bytes_per_second: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      '(new) Bandwidth cap of all uploads of this daemon together, in bytes per second (every backend; `/check` is never slowed). Shared fairly by the uploads in flight; bursts up to half a second of the rate. 0: no cap. Live.',
    ),
  max_requests_per_second: z
    .number()
    .min(0)
    .default(0)
    .describe(
      '(new) Most requests per second the uploads of this daemon send to S3 (HEAD, PUT, parts, complete; retries count); `/check` does not count and is never slowed. S3 only. 0: no limit. Live.',
    ),
  min_concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(1)
    .describe(
      '(new) Lowest upload concurrency that throttling answers (429, 503 SlowDown, Retry-After) can bring `concurrency` down to. Live.',
    ),
  throttle_recovery_successes: z
    .number()
    .int()
    .min(1)
    .max(100000)
    .default(20)
    .describe(
      '(new) After throttling lowered the upload concurrency, this many uploads must succeed for it to rise by one (up to `concurrency`). Live.',
    ),
  throttle_pause_seconds: z
    .number()
    .min(0.1)
    .max(300)
    .default(1)
    .describe(
      '(new) After a throttling answer without `Retry-After`, upload requests pause this long, in seconds (with `Retry-After`, they pause as long as it says, 300 s at most). Live.',
    ),
  // ---- end throttling (issue 20 part 2) ----
});

export const publishSchema = z.object({
  max_retry: z.number().int().min(0).max(10).default(3).describe('Retries of a failed upload after the first try (0-10).'),
  timeout_minutes: z
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(30)
    .describe('An upload running longer than this is aborted and retried (1-1440).'),
  retry_backoff_seconds: z
    .number()
    .positive()
    .default(10)
    .describe(
      '(new) First retry delay, in seconds; doubles on each further retry. Storage outages do not use up retries: uploads wait for the storage to answer again.',
    ),
  compare: z
    .enum(['size', 'checksum'])
    .default('size')
    .describe(
      '(new) When an upload is skipped: `size` (the seed: same size in the bucket) or `checksum` (same content: MD5 ETag, the MD5 stored in object metadata at upload, or the multipart ETag).',
    ),
  list_remote: z
    .boolean()
    .default(true)
    .describe(
      '(new) While a published folder is walked, list its destination prefix once (S3 storage: ListObjectsV2, needs `s3:ListBucket`): files the bucket already holds with the same size are not enqueued (counted as skipped; never with `overwrite`, `delete_after_sync`, `compare = "checksum"`), and files it lacks are uploaded without a HEAD. The listing stops after twice as many keys as the folder has files (at least one page), so a small publish into a large bucket costs one request. Off: one HEAD per file (the seed).',
    ),
  list_timeout_seconds: z
    .number()
    .positive()
    .default(10)
    .describe(
      '(new) The longest a publish waits for its listing once the folder is walked; past it, files are enqueued with what the listing knew so far (their workers ask the bucket for the rest).',
    ),
  max_file_bytes: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      '(new) Largest file a publish uploads, in bytes; a larger one is skipped with the reason in the reply and the batch (and a worker refuses one that grew past it). 0: no limit (the seed).',
    ),
  list_trust_seconds: z
    .number()
    .int()
    .min(0)
    .default(600)
    .describe(
      "(new) How long a job trusts what its publish's listing said about its key; a job run later (a backlog) asks the bucket with a HEAD. 0: never trusted.",
    ),
  keep_completed_hours: z
    .number()
    .min(0)
    .default(24)
    .describe('(new) Completed jobs are kept this long for inspection (0: removed at once).'),
  keep_failed_days: z.number().min(0).default(14).describe('(new) Failed jobs are kept this long for inspection and retry.'),
  allowed_roots: z
    .array(z.string().regex(/^\//, 'publish.allowed_roots entries must be absolute paths'))
    .default([])
    .describe(
      '(new) Folders that `from` (after symlink resolution) and every published file must lie in. Empty: any readable path (the seed), with a warning at start.',
    ),
  max_items: z.number().int().min(1).default(1000).describe('(new) Most items accepted in one `POST /publish`.'),
  batch_ttl_hours: z
    .number()
    .positive()
    .default(24)
    .describe('(new) A batch (`GET /batches/{id}`) is kept this long after its last change, then forgotten.'),
  idempotency_hours: z
    .number()
    .positive()
    .default(24)
    .describe('(new) A `POST /publish` with an `Idempotency-Key` header answers retries with the first reply for this long.'),
});

export const nixSchema = z.object({
  order_narinfo: z
    .boolean()
    .default(true)
    .describe(
      '(new) Upload a `.narinfo` only after the NAR its `URL:` names (when that NAR is in the same publish) is in the bucket, and `nix-cache-info` after everything else of its publish.',
    ),
  validate_narinfo: z
    .boolean()
    .default(false)
    .describe('(new) Fail (without uploading) a `.narinfo` lacking `StorePath`, `URL`, `NarHash` or `NarSize`.'),
});

export const httpSchema = z.object({
  addr: hostPort('http.addr').default(':8080').describe('Listen address of the HTTP API, host:port (`:8080` listens on every interface).'),
  auth_tokens: z
    .array(z.string().min(16, 'http.auth_tokens entries must be at least 16 characters'))
    .default([])
    .describe('(new) Bearer tokens accepted by the API; empty means no authentication (the seed). Secret: redacted, never logged.'),
  auth_token_file: z
    .string()
    .default('')
    .describe('(new) File with more tokens, one per line (`#` comments), so secrets stay out of the config.'),
  public_check: z
    .boolean()
    .default(false)
    .describe('(new) With tokens set, let `/check` answer without one (substituters often have none).'),
  body_limit_bytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024)
    .describe('(new) Largest accepted request body, in bytes.'),
  header_timeout_seconds: z
    .number()
    .positive()
    .default(10)
    .describe("(new) A client has this long to send a request's headers, else its connection is closed. Needs a restart."),
  request_timeout_seconds: z
    .number()
    .positive()
    .default(60)
    .describe(
      '(new) A client has this long to send a whole request (headers and body), else it is answered 408 and its connection closed; event streams are replies and last longer. Needs a restart.',
    ),
  max_event_streams: z
    .number()
    .int()
    .min(1)
    .default(100)
    .describe('(new) Most `GET /batches/{id}/events` streams open at once on this daemon; more are answered 429.'),
});

export const cacheSchema = z.object({
  max_concurrent_s3_checks: z.number().int().min(1).max(100).default(10).describe('Most S3 HEAD requests in flight for `/check` (1-100).'),
  allowed_prefixes: z
    .array(z.string().min(1))
    .min(1)
    .default(['store/'])
    .describe('Key prefixes `/check` answers for; other keys are refused.'),
  positive_ttl_seconds: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      '(new) How long an "exists" entry stays cached, in seconds; 0 keeps it forever (the Go daemon). Set it for buckets that are garbage-collected.',
    ),
  negative_ttl_seconds: z
    .number()
    .int()
    .min(0)
    .default(60)
    .describe(
      '(new) How long a "does not exist" entry stays cached, in seconds; 0 disables negative caching. The Go daemon kept them forever.',
    ),
  s3_timeout_seconds: z
    .number()
    .positive()
    .default(5)
    .describe('(new) A `/check` that needs S3 gives up after this many seconds (waiting for a HEAD slot included) and answers 503.'),
  max_batch_keys: z.number().int().min(1).max(100_000).default(1000).describe('(new) Most keys accepted in one `POST /check`.'),
});

export const asynqmonSchema = z.object({
  enabled: z.boolean().default(true).describe('Serve the queue web UI.'),
  root_path: z
    .string()
    .regex(/^\/[A-Za-z0-9._~\-/]*$/, 'asynqmon.root_path must be a URL path starting with "/"')
    .default('/monitoring')
    .describe('URL path of the queue web UI.'),
  read_only_mode: z.boolean().default(false).describe("Hide and refuse the UI's write actions."),
  prometheus_addr: z
    .string()
    .default('')
    .refine((value) => value === '' || HOST_PORT.test(value), 'asynqmon.prometheus_addr must be empty or host:port')
    .describe('Accepted for compatibility and unused: Asynqmon drew charts from this Prometheus server; the daemon never binds to it.'),
});

// ---- scrub (issue 20.1): schema ----
export const scrubSchema = z.object({
  interval_hours: z
    .number()
    .min(0)
    .default(0)
    .describe(
      '(new) Run a check-only scrub of `scrub.prefix` this often, in hours (one daemon of those sharing the Redis wins each run); 0 turns it off. Its last summary shows in `/stats`.',
    ),
  prefix: z.string().default('').describe('(new) Prefix the periodic scrub checks (`store/` for the Go layout); empty: the whole bucket.'),
  hash_concurrency: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(4)
    .describe('(new) NARs streamed through SHA-256 at once by `scrub --hashes` (1-64).'),
  orphan_grace_hours: z
    .number()
    .min(0)
    .default(24)
    .describe(
      '(new) `scrub --delete-orphans` removes only NARs older than this, in hours: a younger one may belong to a narinfo still queued. Younger orphans are reported, not flagged.',
    ),
  result_ttl_days: z
    .number()
    .positive()
    .default(7)
    .describe("(new) How long a scrub's result stays readable at `GET /scrubs/{id}`, in days."),
  max_listed_problems: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe('(new) Most problems a scrub result lists one by one; past this they are counted only (the result stays bounded).'),
});
// ---- end scrub (issue 20.1): schema ----

export const configSchema = z.object({
  redis: redisSchema.prefault({}),
  s3: s3Schema.prefault({}),
  sftp: sftpSchema.prefault({}),
  storage: storageSchema.prefault({}),
  daemon: daemonSchema.prefault({}),
  publish: publishSchema.prefault({}),
  http: httpSchema.prefault({}),
  cache: cacheSchema.prefault({}),
  asynqmon: asynqmonSchema.prefault({}),
  nix: nixSchema.prefault({}),
  scrub: scrubSchema.prefault({}), // scrub (issue 20.1)
});

/**
 * Rules across sections, checked on the raw input so they are reported together with
 * every other problem (zod skips refinements once a type error is found).
 */
export function crossSectionProblems(raw: Record<string, Record<string, unknown> | undefined>): string[] {
  const problems: string[] = [];
  const clusterNodes = raw.redis?.cluster_nodes;
  const prefix = raw.redis?.key_prefix ?? 'sync4loong';
  if (Array.isArray(clusterNodes) && clusterNodes.length > 0 && typeof prefix === 'string' && !/^\{[^}]+\}$/.test(prefix)) {
    problems.push(
      'redis.key_prefix must be hash-tagged (for example "{sync4loong}") with redis.cluster_nodes: BullMQ keeps each queue in one slot',
    );
  }
  const type = raw.storage?.type ?? 's3';
  if (type === 's3') {
    for (const key of ['endpoint', 'region', 'bucket', 'access_key', 'secret_key']) {
      const value = raw.s3?.[key];
      if (value === undefined || value === '') problems.push(`s3.${key} is required when storage.type is "s3"`);
    }
    const endpoint = raw.s3?.endpoint;
    if (typeof endpoint === 'string' && endpoint !== '' && !isHttpUrl(endpoint)) problems.push('s3.endpoint must be an http(s) URL');
  } else if (type === 'fs') {
    const root = raw.storage?.root;
    if (root === undefined || root === '') problems.push('storage.root is required when storage.type is "fs"');
  } else if (type === 'sftp') {
    problems.push(...sftpProblems(raw.sftp));
  }
  return problems;
}

/** Host, user name and one credential are needed to log in to an SFTP server. */
function sftpProblems(sftp: Record<string, unknown> | undefined): string[] {
  const problems: string[] = [];
  const given = (key: string) => {
    const value = sftp?.[key];
    return value !== undefined && value !== '';
  };
  for (const key of ['host', 'username']) {
    if (!given(key)) problems.push(`sftp.${key} is required when storage.type is "sftp"`);
  }
  if (!['password', 'password_file', 'private_key', 'private_key_file'].some(given)) {
    problems.push('sftp.password, sftp.password_file, sftp.private_key or sftp.private_key_file is required when storage.type is "sftp"');
  }
  return problems;
}

/**
 * What a valid config does that its author may not expect, for the log at start. An
 * enabled `ssh_command` with shell syntax runs as the Go daemon ran it (its characters
 * passed on literally), which is rarely what a local shell would do.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const { enable_ssh_task, ssh_shell, ssh_command } = config.daemon;
  if (enable_ssh_task && !ssh_shell && ssh_command.trim() !== '') {
    const { shellSyntax, unterminated } = parseCommand(ssh_command);
    if (shellSyntax.length > 0) {
      warnings.push(
        `daemon.ssh_command contains shell syntax (${shellSyntax.join(', ')}) that is passed on literally inside its words, as the Go daemon did (ssh hands it to the remote shell); set daemon.ssh_shell = true to run the command with sh -c here instead`,
      );
    }
    if (unterminated.length > 0) {
      warnings.push(`daemon.ssh_command has an unterminated ${unterminated.join(', ')}: kept as a literal character, as the Go daemon did`);
    }
  }
  return warnings;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export type Config = z.infer<typeof configSchema>;

/** The sections of the config, in the order docs/configuration.md documents them. */
export const sections = {
  redis: redisSchema,
  s3: s3Schema,
  sftp: sftpSchema,
  storage: storageSchema,
  daemon: daemonSchema,
  publish: publishSchema,
  http: httpSchema,
  cache: cacheSchema,
  asynqmon: asynqmonSchema,
  nix: nixSchema,
  scrub: scrubSchema, // scrub (issue 20.1)
} as const;

export type SectionName = keyof typeof sections;

/** Keys whose values are secrets: redacted when printed, never logged. */
export const secretKeys: ReadonlyArray<readonly [SectionName, string]> = [
  ['redis', 'password'],
  ['s3', 'access_key'],
  ['s3', 'secret_key'],
  ['sftp', 'password'],
  ['sftp', 'private_key'],
  ['sftp', 'private_key_passphrase'],
  ['http', 'auth_tokens'],
];

/** Keys holding a URL whose user info (`user:password@`) is a secret: redacted when printed, never logged. */
export const urlSecretKeys: ReadonlyArray<readonly [SectionName, string]> = [
  ['redis', 'addr'],
  ['s3', 'endpoint'],
];

/** `<key>_file` keys: the file's content (trimmed) becomes the value of `<key>`. */
export const secretFileKeys: ReadonlyArray<readonly [SectionName, string, string]> = [
  ['redis', 'password_file', 'password'],
  ['s3', 'access_key_file', 'access_key'],
  ['s3', 'secret_key_file', 'secret_key'],
  ['sftp', 'password_file', 'password'],
  ['sftp', 'private_key_file', 'private_key'],
  ['sftp', 'private_key_passphrase_file', 'private_key_passphrase'],
];
