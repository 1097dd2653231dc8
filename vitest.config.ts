import { defineConfig } from "vitest/config";
import { describePlan, planTests } from "./test/setup/test-environment.js";

export default defineConfig(async () => {
  const plan = await planTests(import.meta.dirname);
  if (plan.skipped.length > 0) {
    const note = describePlan(plan);
    // CI must run everything: a missing service is a failure there, not a skip.
    if (process.env.CI) throw new Error(`CI cannot run every test:\n${note}`);
    process.env.VJA_TESTS_LEFT_OUT = note;
    console.error(`\n${note}\n`);
  }
  return {
    test: {
      include: plan.include,
      // Each file owns its database and Redis key prefix, so files run in parallel.
      pool: "forks",
      fileParallelism: true,
      testTimeout: 30_000,
      hookTimeout: 60_000,
      reporters: ["default"],
      globalSetup: ["test/setup/announce-skipped.ts"],
    },
  };
});
