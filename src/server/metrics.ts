import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Auth } from "../create-auth.js";
import { listenOrExplain } from "./listen.js";

/**
 * Prometheus metrics on a port of their own (loopback by default), never on
 * the API's port: they describe the service to its operators, not its users.
 * Bound early (a port in use stops start-up before anything else); serves
 * once `attach` has given it the auth instance.
 */
export async function startMetricsServer(address: { host: string; port: number }) {
  let registry: Registry | null = null;
  const server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
      return;
    }
    if (!registry) {
      res.writeHead(503, { "Content-Type": "text/plain" }).end("starting\n");
      return;
    }
    const current = registry;
    current.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": current.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await listenOrExplain(server, address.port, address.host, "METRICS_PORT");
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${port}/metrics`,
    attach(auth: Auth) {
      registry = createMetricsRegistry(auth);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

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
    "Recorded changes written to Redis by the repair loop (replays included)",
    (s) => s.repairs,
  );
  counter(
    "auth_cache_replays_total",
    "Full replays of recent changes after a lost Redis connection or a failover",
    (s) => s.replays,
  );
  counter(
    "auth_cache_stale_entries_total",
    "Cached users older than a token presented for them (reloaded from Postgres)",
    (s) => s.staleEntries,
  );
  counter(
    "auth_logout_write_through_failures_total",
    "Revocations answered 503 because Redis could not be updated",
    (s) => s.writeThroughFailures,
  );
  new Gauge({
    name: "auth_cache_untrusted_shards",
    help: "Cache shards (Cluster primaries; 1 for a single Redis) whose users read Postgres now",
    registers: [registry],
    collect() {
      this.set(status().untrustedShards);
    },
  });
  new Gauge({
    name: "auth_cache_breaker_open",
    help: "1 while some shard of Redis is not trusted and its users read Postgres",
    registers: [registry],
    collect() {
      this.set(status().breaker === "open" ? 1 : 0);
    },
  });
  return registry;
}
