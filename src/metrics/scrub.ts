/** `sync4loong_scrub_*`: what this daemon's scrubs checked and found (docs/monitoring.md). */
import { Counter, Gauge, type Registry } from 'prom-client';
import { PROBLEM_KINDS, type ActionKind, type ScrubSummary } from '../scrub/types.js';

export interface ScrubMetrics {
  objectsChecked(count: number): void;
  bytesHashed(count: number): void;
  action(kind: ActionKind): void;
  started(): void;
  /** A scrub ended: its summary, or undefined when it failed. */
  finished(summary: ScrubSummary | undefined): void;
}

export function createScrubMetrics(registry: Registry): ScrubMetrics {
  const registers = [registry];
  const objects = new Counter({ name: 'sync4loong_scrub_objects_checked_total', help: 'Objects listed and checked by scrubs.', registers });
  const hashed = new Counter({
    name: 'sync4loong_scrub_bytes_hashed_total',
    help: 'NAR bytes streamed through SHA-256 by scrub --hashes.',
    registers,
  });
  const actions = new Counter({
    name: 'sync4loong_scrub_actions_total',
    help: 'Repair actions taken by scrubs, by action (quarantined, removed, republished, orphan_deleted, failed).',
    labelNames: ['action'] as const,
    registers,
  });
  const problems = new Gauge({
    name: 'sync4loong_scrub_problems',
    help: 'Problems found by the last scrub this daemon finished, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const unrepaired = new Gauge({
    name: 'sync4loong_scrub_unrepaired_problems',
    help: 'Problems the last scrub left unrepaired.',
    registers,
  });
  const orphanBytes = new Gauge({
    name: 'sync4loong_scrub_orphan_bytes',
    help: 'Bytes of orphan NARs (past the grace) found by the last scrub.',
    registers,
  });
  const lastRun = new Gauge({
    name: 'sync4loong_scrub_last_run_timestamp_seconds',
    help: 'When the last scrub this daemon ran finished (unix seconds); 0 before the first.',
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'sync4loong_scrub_last_success',
    help: '1 when the last scrub completed, 0 when it failed.',
    registers,
  });
  const duration = new Gauge({ name: 'sync4loong_scrub_duration_seconds', help: 'How long the last scrub took.', registers });
  const running = new Gauge({ name: 'sync4loong_scrub_running', help: '1 while this daemon runs a scrub.', registers });
  for (const kind of PROBLEM_KINDS) problems.set({ kind }, 0);
  return {
    objectsChecked: (count) => objects.inc(count),
    bytesHashed: (count) => hashed.inc(count),
    action: (kind) => actions.inc({ action: kind }),
    started: () => running.set(1),
    finished(summary) {
      running.set(0);
      lastRun.set(Date.now() / 1000);
      lastSuccess.set(summary === undefined ? 0 : 1);
      if (summary === undefined) return;
      for (const kind of PROBLEM_KINDS) problems.set({ kind }, summary.problems_by_kind[kind] ?? 0);
      unrepaired.set(summary.unrepaired_count);
      orphanBytes.set(summary.orphan_bytes);
      duration.set(summary.duration_seconds);
    },
  };
}
