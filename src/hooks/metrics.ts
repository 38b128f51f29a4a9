/** How a run of the post-sync command ended. */
export type HookOutcome = 'success' | 'failure' | 'timeout';

/** Counters the post-sync command moves; the metrics module implements them with prom-client. */
export interface HookMetrics {
  run(outcome: HookOutcome): void;
}

export const noHookMetrics: HookMetrics = { run() {} };
