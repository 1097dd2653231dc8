export type BreakerState = "closed" | "open";

export interface CircuitBreaker {
  readonly state: BreakerState;
  /** Closed: use the cache. Open: go straight to the database. */
  allowsCache(): boolean;
  recordSuccess(): void;
  /** Opens after `failureThreshold` consecutive failures. */
  recordFailure(): void;
  /** Opens at once: the cache may now hold stale data. */
  trip(): void;
  /** Only the repair loop closes the breaker, after it has made the cache consistent. */
  close(): void;
}

/**
 * A breaker that starts open: an instance trusts the cache only once its
 * repair loop has checked it, and again only after each outage's repair.
 * Closing is never a trial request, because a trial read could return a
 * stale entry and accept a revoked token.
 */
export function createCircuitBreaker(options: {
  failureThreshold: number;
  onChange?: (state: BreakerState) => void;
}): CircuitBreaker {
  let state: BreakerState = "open";
  let consecutiveFailures = 0;
  const set = (next: BreakerState) => {
    if (next === state) return;
    state = next;
    options.onChange?.(next);
  };
  return {
    get state() {
      return state;
    },
    allowsCache: () => state === "closed",
    recordSuccess() {
      consecutiveFailures = 0;
    },
    recordFailure() {
      consecutiveFailures += 1;
      if (consecutiveFailures >= options.failureThreshold) set("open");
    },
    trip() {
      set("open");
    },
    close() {
      if (state === "closed") return;
      consecutiveFailures = 0;
      set("closed");
    },
  };
}
