import { systemClock, type Clock } from './clock.js';

export interface TokenBucketSettings {
  /** Tokens per second; 0: no limit (every take is granted at once). */
  rate: number;
  /** Most tokens saved up while idle: the largest burst above `rate`. */
  burst: number;
  /**
   * A take of more than this is granted in slices of this size, each queued behind the
   * takes already waiting: concurrent large takes then share the rate in turns.
   */
  slice: number;
}

export interface TokenBucket {
  /**
   * Resolves once `amount` tokens were granted, in arrival order (FIFO per slice); rejects
   * with the signal's reason when it aborts first (tokens of granted slices stay spent).
   */
  take(amount: number, signal?: AbortSignal): Promise<void>;
  /** New rate and burst: waiting takes are served at the new rate from now on. */
  update(settings: TokenBucketSettings): void;
  /** Milliseconds spent waiting by all takes so far (granted slices only). */
  waitedMs(): number;
}

interface Waiter {
  amount: number;
  since: number;
  resolve(): void;
  reject(reason: unknown): void;
}

/**
 * A token bucket with one FIFO of waiters. A waiter at the head is granted once the bucket
 * holds `min(amount, burst)` tokens and then takes all of its `amount` (the bucket may go
 * below zero, which later waiters pay back): the long-run rate is exact and a burst never
 * exceeds `burst` plus one slice.
 */
export function createTokenBucket(initial: TokenBucketSettings, clock: Clock = systemClock): TokenBucket {
  let settings = initial;
  let tokens = initial.burst;
  let last = clock.now();
  let waited = 0;
  const waiters: Waiter[] = [];
  let pumping = false;
  /** Cuts the pump's current sleep short (a new rate, an aborted head). */
  let wake: AbortController | undefined;

  function refill(): void {
    const now = clock.now();
    if (settings.rate > 0) tokens = Math.min(settings.burst, tokens + ((now - last) * settings.rate) / 1000);
    last = now;
  }

  function grant(waiter: Waiter): void {
    waited += clock.now() - waiter.since;
    waiter.resolve();
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      while (waiters.length > 0) {
        refill();
        const head = waiters[0]!;
        if (settings.rate <= 0) {
          waiters.shift();
          grant(head);
          continue;
        }
        const needed = Math.min(head.amount, settings.burst);
        if (tokens >= needed) {
          tokens -= head.amount;
          waiters.shift();
          grant(head);
          continue;
        }
        wake = new AbortController();
        await clock.sleep(Math.ceil(((needed - tokens) * 1000) / settings.rate), wake.signal).catch(() => undefined);
        wake = undefined;
      }
    } finally {
      pumping = false;
    }
  }

  function acquire(amount: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const waiter: Waiter = {
        amount,
        since: clock.now(),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const index = waiters.indexOf(waiter);
        if (index >= 0) waiters.splice(index, 1);
        if (index === 0) wake?.abort();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.push(waiter);
      void pump();
    });
  }

  return {
    async take(amount, signal) {
      if (settings.rate <= 0 && waiters.length === 0) return;
      for (let left = amount; left > 0;) {
        const slice = Math.min(left, Math.max(1, settings.slice));
        await acquire(slice, signal);
        left -= slice;
      }
    },
    update(next) {
      refill();
      // Turned on: it starts full, as at start-up.
      tokens = settings.rate <= 0 ? next.burst : Math.min(tokens, next.burst);
      settings = next;
      wake?.abort();
    },
    waitedMs: () => waited,
  };
}
