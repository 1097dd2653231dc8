/**
 * What ioredis (in Sentinel mode) does when the primary goes away, pinned
 * down because a revocation design depends on it:
 *
 * - SIGKILL of the primary with a command in flight: which client events
 *   fire in which order, and whether the in-flight command is rejected or
 *   re-sent to the new primary on the new connection (it depends on
 *   maxRetriesPerRequest, not only on autoResendUnfulfilledCommands).
 * - A failover with the old primary still alive (SENTINEL FAILOVER): without
 *   `failoverDetector` a client stays connected to the demoted primary, and
 *   its writes there are acknowledged and lost.
 *
 * No service code. Timings are attached as annotations (--reporter=verbose).
 */
import { describe, expect, it } from "vitest";
import { Redis, type RedisOptions } from "ioredis";
import { authRedisOptions } from "../src/adapters/redis-client.js";
import { startSentinelTopology, type SentinelTopology } from "./helpers/redis-sentinel.js";
import { waitFor } from "./helpers/wait-for.js";

interface Watched {
  client: Redis;
  /** Events in order, consecutive repeats collapsed. */
  events: string[];
}

function sentinelClient(topology: SentinelTopology, options: RedisOptions): Watched {
  const client = new Redis({ ...options, sentinels: topology.sentinels, name: topology.name });
  const events: string[] = [];
  for (const event of [
    "connect",
    "ready",
    "close",
    "reconnecting",
    "end",
    "error",
    "failoverSubscribed",
  ]) {
    client.on(event, () => {
      if (events.at(-1) !== event) events.push(event);
    });
  }
  return { client, events };
}

/** "error → close → reconnecting → … (7 reconnection attempts) → connect → ready" */
function summarise(events: string[]): string {
  const attempts = events.filter((e) => e === "reconnecting").length;
  const lastAttempt = events.lastIndexOf("reconnecting");
  if (attempts < 3) return events.join(" → ");
  const head = events.slice(0, events.indexOf("reconnecting") + 1);
  return `${head.join(" → ")} → … (${attempts} reconnection attempts) → ${events.slice(lastAttempt + 1).join(" → ")}`;
}

async function servingPort(client: Redis): Promise<number> {
  return Number(/tcp_port:(\d+)/.exec(String(await client.info("server")))?.[1]);
}

function settle(promise: Promise<unknown>) {
  const state: { outcome?: string; at?: number } = {};
  const started = Date.now();
  promise.then(
    (value) =>
      Object.assign(state, { outcome: `resolved ${String(value)}`, at: Date.now() - started }),
    (error: Error) =>
      Object.assign(state, { outcome: `rejected: ${error.message}`, at: Date.now() - started }),
  );
  return state;
}

describe("ioredis in Sentinel mode", () => {
  it("SIGKILL of the primary: close → reconnecting → … → connect → ready; in-flight commands are rejected at once with maxRetriesPerRequest 0, re-sent to the new primary without a limit", async ({
    annotate,
  }) => {
    const topology = await startSentinelTopology();
    const variants: Record<string, RedisOptions> = {
      // The service's options: maxRetriesPerRequest 0, enableOfflineQueue false.
      service: authRedisOptions(5000),
      "service, autoResendUnfulfilledCommands false": {
        ...authRedisOptions(5000),
        autoResendUnfulfilledCommands: false,
      },
      "maxRetriesPerRequest null": { maxRetriesPerRequest: null, retryStrategy: () => 100 },
      "maxRetriesPerRequest null, commandTimeout 200": {
        maxRetriesPerRequest: null,
        retryStrategy: () => 100,
        commandTimeout: 200,
      },
      "maxRetriesPerRequest null, autoResendUnfulfilledCommands false": {
        maxRetriesPerRequest: null,
        retryStrategy: () => 100,
        autoResendUnfulfilledCommands: false,
      },
    };
    const watched = Object.fromEntries(
      Object.entries(variants).map(([name, options]) => [name, sentinelClient(topology, options)]),
    );
    try {
      for (const { client } of Object.values(watched)) {
        await waitFor(() => client.status === "ready", { what: "a sentinel client" });
      }
      const primary = await topology.primary();
      // Stopped, the primary reads nothing: the SETs below stay in flight.
      topology.process(primary).pause();
      const inFlight = Object.fromEntries(
        Object.entries(watched).map(([name, { client, events }]) => {
          events.length = 0;
          return [name, settle(client.set(`in-flight:${name}`, "1"))];
        }),
      );
      // Written to the sockets (auto-pipelined ones a tick later), awaiting replies.
      await waitFor(
        () =>
          Object.values(watched).every(
            ({ client }) => client.autoPipelineQueueSize === 0 && client.commandQueue.length > 0,
          ),
        { what: "the SETs to be in flight" },
      );
      await topology.killPrimary();
      const next = await topology.waitForFailover(primary);
      for (const { client } of Object.values(watched)) {
        await waitFor(async () => (await servingPort(client)) === next, {
          what: "the client on the new primary",
          timeoutMs: 20_000,
        });
      }
      await waitFor(() => inFlight["maxRetriesPerRequest null"]!.outcome !== undefined, {
        what: "the re-sent SET to be answered",
      });
      const landed = async (name: string) =>
        (await topology.command(next, "GET", `in-flight:${name}`)) === "1";

      for (const name of ["service", "service, autoResendUnfulfilledCommands false"]) {
        expect(inFlight[name]!.outcome, name).toMatch(
          /max retries per request limit \(which is 0\)/,
        );
        expect(inFlight[name]!.at, name).toBeLessThan(1000);
        expect(await landed(name), name).toBe(false);
      }
      expect(inFlight["maxRetriesPerRequest null"]!.outcome).toBe("resolved OK");
      expect(await landed("maxRetriesPerRequest null")).toBe(true);
      // The caller was told it timed out; the write was re-sent anyway and landed.
      expect(inFlight["maxRetriesPerRequest null, commandTimeout 200"]!.outcome).toBe(
        "rejected: Command timed out",
      );
      expect(await landed("maxRetriesPerRequest null, commandTimeout 200")).toBe(true);
      // Neither re-sent nor rejected: the promise never settles.
      expect(
        inFlight["maxRetriesPerRequest null, autoResendUnfulfilledCommands false"]!.outcome,
      ).toBeUndefined();
      expect(await landed("maxRetriesPerRequest null, autoResendUnfulfilledCommands false")).toBe(
        false,
      );

      const events = watched.service!.events;
      const first = (event: string) => events.indexOf(event);
      expect(first("close")).toBeGreaterThanOrEqual(0);
      expect(first("reconnecting")).toBeGreaterThan(first("close"));
      expect(first("ready")).toBeGreaterThan(first("reconnecting"));
      expect(events).not.toContain("end");
      await annotate(
        Object.entries(inFlight)
          .map(
            ([name, s]) =>
              `${name}: in-flight SET ${s.outcome ?? "still pending"} after ${s.at ?? "-"} ms`,
          )
          .join("\n") + `\nservice client events: ${summarise(events)}`,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await topology.logs()}`, { cause: error });
    } finally {
      for (const { client } of Object.values(watched)) client.disconnect();
      await topology.stop();
    }
  });

  it("a failover with the old primary alive: only a client with failoverDetector leaves it; the other's writes are acknowledged by the demoted primary and lost", async ({
    annotate,
  }) => {
    const topology = await startSentinelTopology();
    const plain = sentinelClient(topology, { ...authRedisOptions(500), retryStrategy: () => 100 });
    const detecting = sentinelClient(topology, {
      ...authRedisOptions(500),
      retryStrategy: () => 100,
      failoverDetector: true,
    });
    try {
      for (const { client } of [plain, detecting]) {
        await waitFor(() => client.status === "ready", { what: "a sentinel client" });
      }
      await waitFor(() => detecting.events.includes("failoverSubscribed"), {
        what: "the failover detector to subscribe",
      });
      const primary = await topology.primary();
      plain.events.length = 0;
      detecting.events.length = 0;
      const started = Date.now();
      await topology.command(topology.ports.sentinels[0]!, "SENTINEL", "FAILOVER", topology.name);
      const next = await topology.waitForFailover(primary);
      const failoverMs = Date.now() - started;
      await waitFor(async () => (await servingPort(detecting.client)) === next, {
        what: "the detecting client on the new primary",
      });
      const detectorMs = Date.now() - started;

      // The other client is still on the old primary, which still says it is one.
      expect(await servingPort(plain.client)).toBe(primary);
      expect(((await topology.command(primary, "ROLE")) as string[])[0]).toBe("master");
      expect(await plain.client.set("split-brain", "acknowledged")).toBe("OK");
      expect(await topology.command(next, "GET", "split-brain")).toBeNull();
      expect(plain.events).toEqual([]);
      // (failoverSubscribed races ready: the detector subscribes on connect.)
      expect(detecting.events.slice(0, 3)).toEqual(["close", "reconnecting", "connect"]);
      expect(detecting.events).toContain("ready");
      await annotate(
        `SENTINEL FAILOVER → sentinels agree after ${failoverMs} ms; the failoverDetector client ` +
          `answers from the new primary after ${detectorMs} ms (events: ${detecting.events.join(" → ")}); ` +
          "the client without it is still on the old primary, writing there",
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await topology.logs()}`, { cause: error });
    } finally {
      plain.client.disconnect();
      detecting.client.disconnect();
      await topology.stop();
    }
  });
});
