import { systemClock, type Clock } from './clock.js';

export interface ConcurrencySettings {
  /** `daemon.concurrency`: the limit without throttling, and the most recovery gives back. */
  max: number;
  /** `daemon.min_concurrency`: a decrease never goes below this. */
  min: number;
  /** `daemon.throttle_recovery_successes`: uploads that must succeed, after a change, before one more may run. */
  recoverAfter: number;
}

export interface LimitChange {
  from: number;
  to: number;
  /** Why: a throttling answer (decrease), successes (increase), a new config. */
  reason: 'throttled' | 'recovered' | 'config';
}

export interface ConcurrencyController {
  /** The upload concurrency in force now. */
  limit(): number;
  /** A throttling answer: halves the limit (not below `min`), at most once per hold time. */
  throttled(): void;
  /** An upload succeeded: after `recoverAfter` of them in a row, one more may run (up to `max`). */
  succeeded(): void;
  update(settings: ConcurrencySettings): void;
  /** Told of every change of the limit. */
  onChange(listener: (change: LimitChange) => void): void;
}

/**
 * After a decrease, throttling answers are not counted again for this long: the uploads
 * that were in flight when the storage began refusing all get answered at about the same
 * time, and one episode must halve the limit once, not once per upload in flight.
 */
export const DECREASE_HOLD_MS = 1000;

/**
 * Additive-increase, multiplicative-decrease control of the upload concurrency (TCP's
 * congestion window, applied to uploads in flight).
 */
export function createConcurrencyController(initial: ConcurrencySettings, clock: Clock = systemClock): ConcurrencyController {
  let settings = initial;
  let limit = initial.max;
  let successes = 0;
  let lastDecrease = -Infinity;
  const listeners: Array<(change: LimitChange) => void> = [];

  function set(to: number, reason: LimitChange['reason']): void {
    const from = limit;
    limit = to;
    successes = 0;
    if (from !== to) for (const listener of listeners) listener({ from, to, reason });
  }

  return {
    limit: () => limit,
    throttled() {
      const now = clock.now();
      successes = 0;
      if (now - lastDecrease < DECREASE_HOLD_MS) return;
      lastDecrease = now;
      set(Math.max(settings.min, Math.floor(limit / 2)), 'throttled');
    },
    succeeded() {
      if (limit >= settings.max) return;
      successes += 1;
      if (successes >= settings.recoverAfter) set(limit + 1, 'recovered');
    },
    update(next) {
      const unthrottled = limit >= settings.max;
      settings = { ...next, min: Math.min(next.min, next.max) };
      const to = unthrottled ? settings.max : Math.min(settings.max, Math.max(settings.min, limit));
      if (to !== limit) set(to, 'config');
    },
    onChange(listener) {
      listeners.push(listener);
    },
  };
}
