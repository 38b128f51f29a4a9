/**
 * One scrub, as a list of stages: list the prefix once (pages; narinfos read and judged
 * as they come, NARs noted in the scratch), read `nix-cache-info`, join narinfos to their
 * NARs (missing, size, and with --hashes the SHA-256), then NARs to narinfos (orphans).
 * Repairs happen as problems are found. Memory: one listing page, its narinfo reads and
 * one scan batch at a time in the process; the sets live in the Redis scratch (scratch.ts).
 */
import pLimit from 'p-limit';
import type { Logger } from '../log/index.js';
import type { Storage } from '../storage/index.js';
import { isNarinfo } from '../nix/index.js';
import { QUARANTINE_PREFIX, cacheInfoProblem, cacheRootOf, isNarKey, judgeNarinfo, type NarinfoFacts } from './checks.js';
import { fileHashMatches, sha256OfStream } from './hash.js';
import type { Repairer } from './repair.js';
import type { ListedNar, Scratch } from './scratch.js';
import {
  NARINFO_PROBLEMS,
  type Action,
  type Problem,
  type ProblemKind,
  type ScrubProgress,
  type ScrubRequest,
  type ScrubResult,
} from './types.js';

export interface ScanDeps {
  storage: Storage;
  scratch: Scratch;
  log: Logger;
  /** Where the repairer's actions are collected (the result lists them). */
  actions: Action[];
  /** Present when the request repairs or deletes orphans. */
  repairer?: Repairer | undefined;
  /** Told about progress (the caller throttles what it writes). */
  onProgress(progress: ScrubProgress): void;
  /** Counted into `sync4loong_scrub_*` as it happens. */
  onObjects?(count: number): void;
  onHashedBytes?(count: number): void;
  signal: AbortSignal;
}

export interface ScanSettings {
  hashConcurrency: number;
  /** Narinfos read at once while listing. */
  readConcurrency: number;
  orphanGraceMs: number;
  /** Problems past this many are counted, not listed (the result stays a bounded size). */
  maxListedProblems: number;
  now(): number;
}

/** Actions that fix one problem each. */
const REPAIRING_ACTIONS: ReadonlySet<Action['action']> = new Set(['removed', 'republished', 'orphan_deleted']);

/** Narinfos are small; one larger than this is judged on its first bytes (as the publisher reads them). */
const NARINFO_READ_LIMIT = 64 * 1024;

async function readText(storage: Storage, key: string, signal: AbortSignal): Promise<string | null> {
  return storage.read!(
    key,
    async (body) => {
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of body) {
        chunks.push(chunk as Buffer);
        length += (chunk as Buffer).length;
        if (length >= NARINFO_READ_LIMIT) break;
      }
      return Buffer.concat(chunks).subarray(0, NARINFO_READ_LIMIT).toString('utf8');
    },
    { signal },
  );
}

export async function runScan(
  deps: ScanDeps,
  settings: ScanSettings,
  request: ScrubRequest,
  identity: { id: string; startedAt: Date },
): Promise<ScrubResult> {
  const { storage, scratch, signal } = deps;
  if (storage.list === undefined || storage.read === undefined) throw new Error(`${storage.description} cannot list or read objects`);
  const root = cacheRootOf(request.prefix);
  const checksOrphans = root === request.prefix;
  const progress: ScrubProgress = { phase: 'listing', objects_listed: 0, narinfos_checked: 0, nars_hashed: 0, bytes_hashed: 0 };
  const problems: Problem[] = [];
  const byKind: Partial<Record<ProblemKind, number>> = {};
  const counts = {
    objects: 0,
    bytes: 0,
    narinfos: 0,
    nars: 0,
    uncheckedSizes: 0,
    uncheckedHashes: 0,
    orphanBytes: 0,
    recentOrphans: 0,
    recentOrphanBytes: 0,
  };
  let truncated = false;
  const zeroSize: string[] = [];
  let zeroSizeCount = 0;

  function report(problem: Omit<Problem, 'repaired'>): Problem {
    const recorded: Problem = { ...problem, repaired: false };
    byKind[problem.kind] = (byKind[problem.kind] ?? 0) + 1;
    if (problems.length < settings.maxListedProblems) problems.push(recorded);
    else truncated = true;
    deps.log.warn({ kind: problem.kind, s3_key: problem.key, detail: problem.detail }, 'scrub problem');
    return recorded;
  }

  async function narinfoProblem(problem: Omit<Problem, 'repaired'>): Promise<void> {
    const recorded = report(problem);
    if (request.repair && NARINFO_PROBLEMS.has(problem.kind)) await deps.repairer?.narinfo(recorded);
  }

  // ---- listing ----
  const readLimit = pLimit(settings.readConcurrency);
  let continuation: string | undefined;
  do {
    signal.throwIfAborted();
    const page = await storage.list(request.prefix, { continuation, signal });
    continuation = page.continuation;
    const nars: ListedNar[] = [];
    const narinfoKeys: string[] = [];
    for (const object of page.objects) {
      if (object.key.startsWith(QUARANTINE_PREFIX)) continue;
      counts.objects += 1;
      counts.bytes += object.size;
      if (object.size === 0) {
        zeroSizeCount += 1;
        if (zeroSize.length < settings.maxListedProblems) zeroSize.push(object.key);
      }
      if (isNarinfo(object.key)) narinfoKeys.push(object.key);
      else if (isNarKey(object.key)) {
        counts.nars += 1;
        nars.push({ key: object.key, size: object.size, lastModified: object.lastModified?.getTime() ?? 0 });
      }
    }
    progress.objects_listed = counts.objects;
    deps.onObjects?.(page.objects.length);
    await scratch.addNars(nars);
    const judged = await Promise.all(
      narinfoKeys.map((key) => readLimit(async () => ({ key, text: await readText(storage, key, signal) }))),
    );
    const good: Array<{ key: string; facts: NarinfoFacts }> = [];
    const refsOfBad: Array<{ key: string; facts: NarinfoFacts }> = [];
    for (const { key, text } of judged) {
      if (text === null) continue; // removed since it was listed
      counts.narinfos += 1;
      const verdict = judgeNarinfo(key, text);
      if ('facts' in verdict) good.push({ key, facts: verdict.facts });
      else {
        // The NAR a bad narinfo names is not an orphan in this run (it will be once the narinfo is gone).
        if (verdict.nar !== undefined) refsOfBad.push({ key: `${key}#bad`, facts: { nar: verdict.nar } });
        await narinfoProblem({ kind: verdict.problem, key, detail: verdict.detail, nar: verdict.nar });
      }
    }
    progress.narinfos_checked = counts.narinfos;
    await scratch.addNarinfos(good);
    await scratch.addNarinfos(refsOfBad);
    deps.onProgress(progress);
  } while (continuation !== undefined);

  // ---- nix-cache-info ----
  const cacheInfoKey = `${root}nix-cache-info`;
  const cacheInfo = await readText(storage, cacheInfoKey, signal);
  const kind = cacheInfo !== null || counts.narinfos > 0 ? 'nix' : 'plain';
  if (kind === 'nix') {
    if (cacheInfo === null)
      report({ kind: 'nix_cache_info_missing', key: cacheInfoKey, detail: 'the cache has narinfos but no nix-cache-info' });
    else {
      const problem = cacheInfoProblem(cacheInfo);
      if (problem !== undefined) report({ kind: 'nix_cache_info_invalid', key: cacheInfoKey, detail: problem });
    }
  } else {
    for (const key of zeroSize) report({ kind: 'zero_size_object', key, detail: 'empty object' });
    if (zeroSizeCount > zeroSize.length) {
      byKind.zero_size_object = zeroSizeCount;
      truncated = true;
    }
  }

  // ---- narinfos → NARs ----
  if (kind === 'nix') {
    progress.phase = request.hashes ? 'hashing' : 'checking';
    deps.onProgress(progress);
    const hashLimit = pLimit(settings.hashConcurrency);
    for await (const batch of scratch.narinfos()) {
      signal.throwIfAborted();
      const checked = batch.filter(({ key }) => !key.endsWith('#bad'));
      const listed = await scratch.lookupNars(checked.map(({ facts }) => facts.nar));
      const hashing: Array<Promise<void>> = [];
      for (const [index, { key, facts }] of checked.entries()) {
        let nar: { size: number } | null = listed[index] ?? null;
        // A NAR outside the listed prefix (a partial scrub) is looked up on its own.
        if (nar === null && !facts.nar.startsWith(request.prefix)) nar = await storage.head(facts.nar, { signal });
        if (nar === null) {
          await narinfoProblem({ kind: 'missing_nar', key, nar: facts.nar, detail: `URL names ${facts.nar}, which is not in the bucket` });
          continue;
        }
        if (facts.fileSize === undefined) counts.uncheckedSizes += 1;
        else if (facts.fileSize !== nar.size) {
          await narinfoProblem({
            kind: 'nar_size_mismatch',
            key,
            nar: facts.nar,
            size: nar.size,
            detail: `FileSize ${facts.fileSize}, the bucket holds ${nar.size} bytes`,
          });
          continue;
        }
        if (!request.hashes) continue;
        if (facts.fileHash === undefined) {
          counts.uncheckedHashes += 1;
          continue;
        }
        const expected = facts.fileHash;
        hashing.push(
          hashLimit(async () => {
            const digest = await storage.read!(
              facts.nar,
              (body) =>
                sha256OfStream(body, (bytes) => {
                  progress.bytes_hashed += bytes;
                  deps.onHashedBytes?.(bytes);
                }),
              { signal },
            );
            progress.nars_hashed += 1;
            if (digest === null) {
              await narinfoProblem({ kind: 'missing_nar', key, nar: facts.nar, detail: `${facts.nar} disappeared while scrubbed` });
            } else if (!fileHashMatches(expected, digest)) {
              await narinfoProblem({
                kind: 'nar_hash_mismatch',
                key,
                nar: facts.nar,
                detail: `FileHash sha256:${expected}, the stored NAR hashes to a different value`,
              });
            }
          }),
        );
      }
      await Promise.all(hashing);
      deps.onProgress(progress);
    }
  }

  // ---- NARs → narinfos (orphans) ----
  if (kind === 'nix' && checksOrphans) {
    progress.phase = 'orphans';
    deps.onProgress(progress);
    const now = settings.now();
    for await (const batch of scratch.nars()) {
      signal.throwIfAborted();
      const referenced = await scratch.referenced(batch.map((nar) => nar.key));
      for (const [index, nar] of batch.entries()) {
        if (referenced[index]) continue;
        // Unknown age counts as recent: never deleted on a guess.
        if (nar.lastModified === 0 || now - nar.lastModified < settings.orphanGraceMs) {
          counts.recentOrphans += 1;
          counts.recentOrphanBytes += nar.size;
          continue;
        }
        counts.orphanBytes += nar.size;
        const problem = report({ kind: 'orphan_nar', key: nar.key, size: nar.size, detail: `${nar.size} bytes no narinfo names` });
        if (request.deleteOrphans) await deps.repairer?.orphan(problem);
      }
    }
  }

  if (deps.repairer !== undefined) {
    progress.phase = 'repairing';
    deps.onProgress(progress);
    await deps.repairer.finish();
  }
  progress.phase = 'done';
  deps.onProgress(progress);

  const finished = new Date(settings.now());
  const problemCount = Object.values(byKind).reduce((sum, count) => sum + (count ?? 0), 0);
  const repaired = deps.actions.filter((action) => REPAIRING_ACTIONS.has(action.action)).length;
  return {
    id: identity.id,
    kind,
    prefix: request.prefix,
    started_at: identity.startedAt.toISOString(),
    finished_at: finished.toISOString(),
    duration_seconds: (finished.getTime() - identity.startedAt.getTime()) / 1000,
    objects: counts.objects,
    bytes: counts.bytes,
    narinfos: counts.narinfos,
    nars: counts.nars,
    unchecked_sizes: counts.uncheckedSizes,
    unchecked_hashes: counts.uncheckedHashes,
    zero_size_objects: zeroSizeCount,
    nars_hashed: progress.nars_hashed,
    bytes_hashed: progress.bytes_hashed,
    orphans_checked: kind === 'nix' && checksOrphans,
    problems_by_kind: byKind,
    problem_count: problemCount,
    unrepaired_count: problemCount - repaired,
    orphan_bytes: counts.orphanBytes,
    recent_orphans: counts.recentOrphans,
    recent_orphan_bytes: counts.recentOrphanBytes,
    hashes: request.hashes,
    repair: request.repair,
    delete_orphans: request.deleteOrphans,
    problems_truncated: truncated,
    problems,
    actions: deps.actions,
  };
}
