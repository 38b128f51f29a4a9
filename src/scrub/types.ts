/** The shapes of a scrub: what it is asked, what it reports while running, what it finds and does. */

/** Every kind of problem a scrub reports (the `kind` of a problem, the label of `sync4loong_scrub_problems`). */
export const PROBLEM_KINDS = [
  'missing_nar',
  'nar_size_mismatch',
  'unparsable_narinfo',
  'store_path_mismatch',
  'nar_hash_mismatch',
  'orphan_nar',
  'nix_cache_info_missing',
  'nix_cache_info_invalid',
  'zero_size_object',
] as const;

export type ProblemKind = (typeof PROBLEM_KINDS)[number];

/** Problems that make a narinfo harmful to substituters: repaired by removing (or republishing) the narinfo. */
export const NARINFO_PROBLEMS: ReadonlySet<ProblemKind> = new Set([
  'missing_nar',
  'nar_size_mismatch',
  'unparsable_narinfo',
  'store_path_mismatch',
  'nar_hash_mismatch',
]);

export interface ScrubRequest {
  /** Keys below this prefix are scrubbed; the cache root is the prefix up to its last `/`. */
  prefix: string;
  /** Stream every NAR through SHA-256 and compare with the narinfo's `FileHash`. */
  hashes: boolean;
  /** Remove (after quarantining) or republish every narinfo with a problem. */
  repair: boolean;
  /** Republish from this folder (under `publish.allowed_roots`) instead of removing, when the files are there. */
  from?: string | undefined;
  /** Remove orphan NARs older than `scrub.orphan_grace_hours`. */
  deleteOrphans: boolean;
}

export interface Problem {
  kind: ProblemKind;
  /** The object the problem is about (the narinfo for narinfo problems, the NAR for orphans). */
  key: string;
  detail: string;
  /** The NAR a narinfo names, when it names one. */
  nar?: string | undefined;
  /** Bytes concerned (orphans: the NAR's size). */
  size?: number | undefined;
  /** Whether an action of this scrub fixed it. */
  repaired: boolean;
}

export type ActionKind = 'quarantined' | 'removed' | 'republished' | 'orphan_deleted' | 'failed';

export interface Action {
  action: ActionKind;
  key: string;
  /** `quarantined`: where the copy is; `republished`: the batch id. */
  to?: string | undefined;
  detail: string;
}

export interface ScrubProgress {
  phase: 'listing' | 'checking' | 'hashing' | 'orphans' | 'repairing' | 'done';
  objects_listed: number;
  narinfos_checked: number;
  nars_hashed: number;
  bytes_hashed: number;
}

/** `plain`: no `nix-cache-info` and no narinfo below the prefix: only counts and zero-size objects. */
export type CacheKind = 'nix' | 'plain';

export interface ScrubSummary {
  id: string;
  kind: CacheKind;
  prefix: string;
  started_at: string;
  finished_at: string;
  duration_seconds: number;
  objects: number;
  bytes: number;
  narinfos: number;
  nars: number;
  /** Narinfos without `FileSize` (or `FileHash` with --hashes): not size- (hash-) checked, not flagged. */
  unchecked_sizes: number;
  unchecked_hashes: number;
  zero_size_objects: number;
  /** With --hashes: NARs streamed through SHA-256, and their bytes. */
  nars_hashed: number;
  bytes_hashed: number;
  /** Orphans are looked for only when the prefix is a cache root (`""` or ending in `/`). */
  orphans_checked: boolean;
  problems_by_kind: Partial<Record<ProblemKind, number>>;
  problem_count: number;
  unrepaired_count: number;
  orphan_bytes: number;
  /** Orphan NARs younger than the grace: maybe their narinfo is still queued; not problems. */
  recent_orphans: number;
  recent_orphan_bytes: number;
  hashes: boolean;
  repair: boolean;
  delete_orphans: boolean;
  /** Problems beyond `scrub.max_listed_problems` are counted but not listed. */
  problems_truncated: boolean;
}

export interface ScrubResult extends ScrubSummary {
  problems: Problem[];
  actions: Action[];
}

export type ScrubState = 'running' | 'done' | 'failed' | 'abandoned';

/** `GET /scrubs/{id}`. */
export interface ScrubStatus {
  id: string;
  state: ScrubState;
  request: ScrubRequest;
  started_at: string;
  progress: ScrubProgress;
  result?: ScrubResult | undefined;
  error?: string | undefined;
}
