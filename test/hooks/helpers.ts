/** Scripts the post-sync tests run as their command, and ways to read what they saw. */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RedisServer } from '../helpers/servers.js';
import { rawConfig, tempDir } from '../helpers/daemon.js';

/** 1 s in the config's minutes. */
export const SECOND_IN_MINUTES = 1 / 60;

export function hookConfig(redis: RedisServer, root: string, daemon: Record<string, unknown>) {
  return rawConfig(redis, undefined, {
    storage: { type: 'fs', root },
    daemon: {
      enable_ssh_task: true,
      ssh_debounce_minutes: SECOND_IN_MINUTES,
      ssh_max_wait_minutes: 1,
      ssh_timeout_minutes: 1,
      ssh_retry_backoff_seconds: 0.2,
      ssh_kill_grace_seconds: 0.5,
      shutdown_timeout_seconds: 5,
      ...daemon,
    },
  });
}

export interface RecordedRun {
  /** When the command started (ms since the epoch). */
  startedAt: number;
  /** `SYNC4LOONG_UPLOADED_COUNT`. */
  count: number;
  /** Lines read from stdin. */
  keys: string[];
}

export interface Recorder {
  /** The `ssh_command` that records each run into `dir`. */
  command: string;
  dir: string;
  /** Finished runs, oldest first. */
  runs(): Promise<RecordedRun[]>;
  /** How many runs have started (finished or not). */
  started(): Promise<number>;
}

/** A command that records its start, its environment count and its stdin, after an optional pause. */
export async function recorder(pauseSeconds = 0): Promise<Recorder> {
  const dir = await tempDir('hook');
  const script = join(dir, 'record.sh');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      'out="$1"; pause="$2"',
      'id="$(date +%s%N)-$$"',
      ': > "$out/started-$id"',
      'keys="$(cat)"',
      '[ "$pause" = 0 ] || sleep "$pause"',
      'printf \'%s\\n%s\\n\' "$SYNC4LOONG_UPLOADED_COUNT" "$keys" > "$out/run-$id.tmp"',
      'mv "$out/run-$id.tmp" "$out/run-$id"',
      '',
    ].join('\n'),
  );
  return {
    command: `/bin/sh ${script} ${dir} ${pauseSeconds}`,
    dir,
    async runs() {
      const names = (await readdir(dir)).filter((name) => name.startsWith('run-') && !name.endsWith('.tmp')).sort();
      const runs: RecordedRun[] = [];
      for (const name of names) {
        const [count = '', ...keys] = (await readFile(join(dir, name), 'utf8')).split('\n');
        runs.push({ startedAt: Number(name.slice(4).split('-')[0]) / 1e6, count: Number(count), keys: keys.filter((key) => key !== '') });
      }
      return runs;
    },
    async started() {
      return (await readdir(dir)).filter((name) => name.startsWith('started-')).length;
    },
  };
}

/** Whether `pid` is a live process (a zombie waiting to be reaped counts as gone). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Spaces out the notifications a test sends over time (a workload's pace, never a wait for an event). */
export const pace = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
