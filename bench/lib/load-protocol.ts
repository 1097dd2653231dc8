/** One load run, as the orchestrator asks the load generator for it. */
export interface LoadRunOptions {
  /** Full URL of the route under test, on 127.0.0.1. */
  url: string;
  method: "GET" | "POST";
  connections: number;
  /** Run for this long… */
  durationSeconds?: number;
  /** …or send exactly this many requests (wins over the duration). */
  amount?: number;
  /** Requests per second over all connections; unlimited when absent. */
  overallRate?: number;
  /** A list defined earlier: request i sends `Authorization: Bearer <list[i % n]>`. */
  tokens?: string;
  /** A list defined earlier: request i sends `list[i % n]` as its JSON body. */
  bodies?: string;
}

export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  durationSeconds: number;
  /** 2xx responses per second. */
  rps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; max: number };
}

export type ToLoadGenerator =
  | { type: "define"; name: string; values: string[] }
  | { type: "run"; id: number; options: LoadRunOptions };

export type FromLoadGenerator =
  | { type: "ready" }
  | { type: "result"; id: number; result: LoadResult }
  | { type: "failed"; id: number; message: string };
