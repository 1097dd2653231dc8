/**
 * A logout acknowledged by the Redis primary but not yet replicated, then a
 * Sentinel failover to the replica (its replication link was held, so it
 * never got the write). Postgres says the token is revoked; the new primary
 * still holds the entry from before the logout.
 *
 * Each scenario runs once, in beforeAll, so a broken harness fails the file
 * instead of passing quietly. Two instances, sampled every 50 ms from the
 * logout's answer until 8 s after the failover.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { version01Design } from "./helpers/fault-ports.js";
import {
  describeRun,
  lostWriteViolations,
  runLostWriteAcrossFailover,
  todaysInstance,
  type LostWriteRun,
} from "./helpers/lost-write-scenario.js";

function expectScenarioAsDesigned(run: LostWriteRun, logoutStatus: number) {
  expect(run.logoutStatus).toBe(logoutStatus);
  expect(run.postgresVersion).toBe(1);
  expect(run.cached.primaryAfterLogout).toBe(1);
  expect(run.cached.replicaBeforeKill).toBe(0);
  expect(run.ports.newPrimary).toBe(run.ports.replica);
  const before = run.samples.filter((s) => s.at < run.killedAt && s.token === "revoked");
  expect(new Set(before.map((s) => s.instance))).toEqual(new Set(["A", "B"]));
}

describe("without WAIT: the logout answers 204 before the replica has it", () => {
  let run: LostWriteRun;
  beforeAll(async () => {
    run = await runLostWriteAcrossFailover({
      instance: (topology) => ({
        ...todaysInstance(topology),
        overrides: { cache: { replicaAcks: 0 } },
      }),
    });
  }, 120_000);

  it("happens as designed: the primary took the logout, the replica missed it and was promoted", async ({
    annotate,
  }) => {
    await annotate(describeRun(run));
    expectScenarioAsDesigned(run, 204);
  });

  it("no instance accepts the revoked token at any moment, and a fresh login is accepted on both", () => {
    expect(lostWriteViolations(run), `timeline:\n${describeRun(run)}\n`).toEqual([]);
  });
});

describe("with WAIT for one replica (the Sentinel default)", () => {
  let run: LostWriteRun;
  beforeAll(async () => {
    run = await runLostWriteAcrossFailover({
      instance: (topology) => ({
        ...todaysInstance(topology),
        overrides: { cache: { replicaAcks: 1 } },
      }),
    });
  }, 120_000);

  it("the logout does not claim success while the replica lacks the write (503); the token stays refused; a fresh login works", async ({
    annotate,
  }) => {
    await annotate(describeRun(run));
    expectScenarioAsDesigned(run, 503);
    expect(lostWriteViolations(run, { logoutStatus: 503 }), describeRun(run)).toEqual([]);
  });
});

describe("version 0.1's design (repairs forgotten once applied, reconnections trusted)", () => {
  let run: LostWriteRun;
  beforeAll(async () => {
    run = await runLostWriteAcrossFailover({
      instance: (topology) => ({
        ...todaysInstance(topology),
        overrides: { cache: { replicaAcks: 0 } },
        wrapPorts: version01Design,
      }),
      // A token newer than the cache makes today's code reload the entry, which
      // 0.1 did not; the fresh login waits so that 0.1's window shows.
      freshLoginAfterMs: 4000,
    });
  }, 120_000);

  it("fails the same scenario: an instance accepts the revoked token again after the failover", async ({
    annotate,
  }) => {
    await annotate(describeRun(run));
    expectScenarioAsDesigned(run, 204);
    const violations = lostWriteViolations(run);
    expect(
      violations.some((v) => /accepted the revoked token/.test(v)),
      describeRun(run),
    ).toBe(true);
  });
});
