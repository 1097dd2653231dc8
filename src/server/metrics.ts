import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Auth } from "../create-auth.js";

/**
 * Prometheus metrics for operators: cache hit/miss/fallback counts and the
 * breaker state (1 = Redis not trusted, every lookup reads Postgres), plus
 * the process defaults. Values are read from `auth.cacheStatus()` on scrape.
 */
export function createMetricsRegistry(auth: Auth): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const status = () => auth.cacheStatus();

  const counter = (name: string, help: string, read: (s: ReturnType<typeof status>) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(status()));
      },
    });

  new Counter({
    name: "auth_cache_lookups_total",
    help: "User lookups by outcome: hit (Redis), miss (then Postgres), fallback (Redis failed or not trusted)",
    labelNames: ["result"],
    registers: [registry],
    collect() {
      const s = status();
      this.reset();
      this.inc({ result: "hit" }, s.hits);
      this.inc({ result: "miss" }, s.misses);
      this.inc({ result: "fallback" }, s.fallbacks);
    },
  });
  counter(
    "auth_cache_store_reads_total",
    "Postgres reads made by user lookups",
    (s) => s.storeReads,
  );
  counter("auth_cache_fills_total", "Cache fills written after a miss", (s) => s.fills);
  counter(
    "auth_cache_fills_skipped_total",
    "Cache fills refused because Redis held a newer version or was emptied meanwhile",
    (s) => s.fillsSkipped,
  );
  counter(
    "auth_cache_repairs_total",
    "Pending logouts written to Redis by the repair loop",
    (s) => s.repairs,
  );
  counter(
    "auth_logout_write_through_failures_total",
    "Logouts answered 503 because Redis could not be updated",
    (s) => s.writeThroughFailures,
  );
  new Gauge({
    name: "auth_cache_breaker_open",
    help: "1 while Redis is not trusted and every lookup reads Postgres",
    registers: [registry],
    collect() {
      this.set(status().breaker === "open" ? 1 : 0);
    },
  });
  return registry;
}
