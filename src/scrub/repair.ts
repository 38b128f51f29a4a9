/**
 * What `--repair` and `--delete-orphans` do to the bucket. A bad narinfo is copied under
 * `_quarantine/<YYYY-MM-DD>/<key>` and then removed (a substituter then builds the path
 * instead of failing on it); with `--from DIR`, a narinfo whose files are in DIR (the
 * narinfo parses, its NAR has its FileSize) is published again from there instead,
 * through the ordinary publisher, and removed only if that publish fails. Orphan NARs are
 * removed only when older than the grace. Every action is logged and returned.
 */
import { stat, readFile } from 'node:fs/promises';
import { join, dirname, posix } from 'node:path';
import type { Logger } from '../log/index.js';
import type { Storage } from '../storage/index.js';
import { narPathOf, parseNarinfo } from '../nix/index.js';
import { QUARANTINE_PREFIX, judgeNarinfo } from './checks.js';
import type { Action, Problem } from './types.js';

/** Publishes the items (as `POST /publish` would) and resolves with the keys that failed once the batch is over. */
export type Republish = (
  items: Array<{ from: string; to: string; overwrite: true }>,
  signal: AbortSignal,
) => Promise<{ batchId: string; failedKeys: Promise<string[]> }>;

export interface RepairerDeps {
  storage: Storage;
  log: Logger;
  republish?: Republish | undefined;
  /** Hears every action as it is taken (result list, metrics). */
  onAction(action: Action): void;
  /** Ends the wait for a republish batch (the scrub was stopped). */
  signal: AbortSignal;
}

export interface RepairerOptions {
  /** The cache root the keys are relative to in `from`. */
  root: string;
  from?: string | undefined;
  /** `YYYY-MM-DD` of the quarantine folder. */
  date: string;
}

export interface Repairer {
  /** Repairs one narinfo problem now, or schedules its republish (settled by `finish`). */
  narinfo(problem: Problem): Promise<void>;
  /** Removes an orphan NAR (the caller checked the grace). */
  orphan(problem: Problem): Promise<void>;
  /** Publishes what was scheduled and waits for it; failed republishes fall back to quarantine. */
  finish(): Promise<void>;
}

interface LocalCopy {
  narinfo: string;
  nar: string;
  narKey: string;
}

export function createRepairer(deps: RepairerDeps, options: RepairerOptions): Repairer {
  const { storage, log } = deps;
  const pending: Array<{ problem: Problem; local: LocalCopy }> = [];

  function act(action: Action): void {
    deps.onAction(action);
    const fields = {
      action: action.action,
      s3_key: action.key,
      ...(action.to !== undefined ? { to: action.to } : {}),
      detail: action.detail,
    };
    if (action.action === 'failed') log.warn(fields, 'scrub repair failed');
    else log.info(fields, 'scrub repair');
  }

  async function quarantine(problem: Problem): Promise<void> {
    if (storage.copy === undefined || storage.remove === undefined) {
      act({
        action: 'failed',
        key: problem.key,
        detail: `${storage.description} cannot copy objects: narinfo left in place (quarantine needs a copy)`,
      });
      return;
    }
    const to = `${QUARANTINE_PREFIX}${options.date}/${problem.key}`;
    try {
      await storage.copy(problem.key, to);
    } catch (error) {
      act({ action: 'failed', key: problem.key, detail: `quarantine copy failed, narinfo left in place: ${(error as Error).message}` });
      return;
    }
    act({ action: 'quarantined', key: problem.key, to, detail: `copy of the narinfo (${problem.kind})` });
    try {
      await storage.remove(problem.key);
      act({ action: 'removed', key: problem.key, detail: `${problem.kind}: ${problem.detail}` });
      problem.repaired = true;
    } catch (error) {
      act({ action: 'failed', key: problem.key, detail: `remove failed: ${(error as Error).message}` });
    }
  }

  /** The narinfo and its NAR in `from`, when both are there and consistent; else undefined. */
  async function localCopyOf(key: string): Promise<LocalCopy | undefined> {
    if (options.from === undefined || !key.startsWith(options.root)) return undefined;
    const narinfo = join(options.from, ...key.slice(options.root.length).split('/'));
    let text: string;
    try {
      text = await readFile(narinfo, 'utf8');
    } catch {
      return undefined;
    }
    const verdict = judgeNarinfo(key, text);
    if (!('facts' in verdict)) return undefined;
    const url = narPathOf(parseNarinfo(text).get('URL') ?? '');
    if (url === undefined) return undefined;
    const nar = join(dirname(narinfo), ...url.split('/'));
    try {
      const info = await stat(nar);
      if (!info.isFile() || (verdict.facts.fileSize !== undefined && info.size !== verdict.facts.fileSize)) return undefined;
    } catch {
      return undefined;
    }
    return { narinfo, nar, narKey: posix.normalize(verdict.facts.nar) };
  }

  return {
    async narinfo(problem) {
      const local = deps.republish === undefined ? undefined : await localCopyOf(problem.key);
      if (local !== undefined) pending.push({ problem, local });
      else await quarantine(problem);
    },
    async orphan(problem) {
      if (storage.remove === undefined) {
        act({ action: 'failed', key: problem.key, detail: `${storage.description} cannot remove objects` });
        return;
      }
      try {
        await storage.remove(problem.key);
        act({ action: 'orphan_deleted', key: problem.key, detail: `${problem.size ?? 0} bytes, no narinfo names it` });
        problem.repaired = true;
      } catch (error) {
        act({ action: 'failed', key: problem.key, detail: `remove failed: ${(error as Error).message}` });
      }
    },
    async finish() {
      if (pending.length === 0 || deps.republish === undefined) return;
      const items = pending.flatMap(({ local, problem }) => [
        { from: local.nar, to: local.narKey, overwrite: true as const },
        { from: local.narinfo, to: problem.key, overwrite: true as const },
      ]);
      let failed: Set<string>;
      let batchId = '';
      try {
        const published = await deps.republish(items, deps.signal);
        batchId = published.batchId;
        failed = new Set(await published.failedKeys);
      } catch (error) {
        for (const { problem } of pending) {
          act({ action: 'failed', key: problem.key, detail: `republish failed: ${(error as Error).message}` });
          await quarantine(problem);
        }
        return;
      }
      for (const { problem, local } of pending) {
        if (failed.has(problem.key) || failed.has(local.narKey)) {
          act({ action: 'failed', key: problem.key, to: batchId, detail: 'republish failed in its batch: removing instead' });
          await quarantine(problem);
        } else {
          act({
            action: 'republished',
            key: problem.key,
            to: batchId,
            detail: `narinfo and ${local.narKey} published again from ${options.from}`,
          });
          problem.repaired = true;
        }
      }
    },
  };
}
