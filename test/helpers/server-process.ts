import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { waitFor } from "./wait-for.js";

/**
 * The real entry point (src/server/main.ts, through tsx) as its own process.
 * Runs in test/, where there is no .env, so only `env` counts.
 */
export function startServerProcess(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(process.cwd(), "src/server/main.ts")],
    {
      // Metrics on a port of the system's choosing, so parallel servers never collide.
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", METRICS_PORT: "0", ...env },
      cwd: join(process.cwd(), "test"),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    async listening(port: number) {
      // Ready, not only alive (/healthz answers 200 while it starts).
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
        what: `the server on ${port}`,
        timeoutMs: 20_000,
      });
    },
  };
}
