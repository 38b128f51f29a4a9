import type { Config } from '../config/index.js';
import type { PostSyncOptions } from './post-sync.js';

/** The post-sync command's options from `[daemon]` and `[redis]` (all but the connection). */
export function postSyncOptions(config: Config): Omit<PostSyncOptions, 'connection'> {
  const daemon = config.daemon;
  return {
    enabled: daemon.enable_ssh_task && daemon.ssh_command.trim() !== '',
    command: daemon.ssh_command,
    shell: daemon.ssh_shell,
    debounceMs: daemon.ssh_debounce_minutes * 60_000,
    maxWaitMs: daemon.ssh_max_wait_minutes * 60_000,
    timeoutMs: daemon.ssh_timeout_minutes * 60_000,
    killGraceMs: daemon.ssh_kill_grace_seconds * 1000,
    maxRetry: daemon.ssh_max_retry,
    retryBackoffMs: daemon.ssh_retry_backoff_seconds * 1000,
    prefix: config.redis.key_prefix,
    shutdownTimeoutMs: daemon.shutdown_timeout_seconds * 1000,
  };
}
