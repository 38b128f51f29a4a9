/**
 * At most one flight per key: callers asking for a key already in flight share its result.
 * Written here because it is a dozen lines, and the flight must stay visible until its
 * follow-up work (the cache write) is done, which generic libraries do not offer.
 */
export interface Flight<T> {
  /** What every caller of the key receives. */
  result: Promise<T>;
  /** Settles when newcomers may start a fresh flight (after the result is cached). */
  done: Promise<unknown>;
}

export interface Singleflight<T> {
  /** The result of the key's flight in progress, or of the one `start` begins. */
  run(key: string, start: () => Flight<T>): Promise<T>;
  /** Flights in progress. */
  readonly size: number;
}

export function createSingleflight<T>(): Singleflight<T> {
  const flights = new Map<string, Promise<T>>();
  return {
    run(key, start) {
      const current = flights.get(key);
      if (current !== undefined) return current;
      const flight = start();
      flights.set(key, flight.result);
      const release = () => {
        if (flights.get(key) === flight.result) flights.delete(key);
      };
      flight.done.then(release, release);
      return flight.result;
    },
    get size() {
      return flights.size;
    },
  };
}
