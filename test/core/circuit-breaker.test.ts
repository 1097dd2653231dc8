import { describe, expect, it } from "vitest";
import { createCircuitBreaker, type BreakerState } from "../../src/core/circuit-breaker.js";

describe("createCircuitBreaker", () => {
  it("starts open and closes only when told to", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2 });
    expect(breaker.allowsCache()).toBe(false);
    breaker.recordSuccess();
    expect(breaker.state).toBe("open");
    breaker.close();
    expect(breaker.allowsCache()).toBe(true);
  });

  it("opens after the threshold of consecutive failures; a success resets the count", () => {
    const changes: BreakerState[] = [];
    const breaker = createCircuitBreaker({ failureThreshold: 2, onChange: (s) => changes.push(s) });
    breaker.close();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
    expect(changes).toEqual(["closed", "open"]);
  });

  it("close on a closed breaker keeps the failure count", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 2 });
    breaker.close();
    breaker.recordFailure();
    breaker.close();
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
  });

  it("trip opens at once", () => {
    const breaker = createCircuitBreaker({ failureThreshold: 100 });
    breaker.close();
    breaker.trip();
    expect(breaker.state).toBe("open");
  });
});
