// `npm audit --omit=dev`, as part of `npm test`: fails on any high or critical
// advisory in a production dependency. When the registry's audit service
// cannot be asked (offline, or a registry mirror without the audit endpoint)
// it says so plainly and skips, unless AUDIT_REQUIRED=1 makes that a failure.
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export interface AuditVerdict {
  outcome: "pass" | "fail" | "skip";
  message: string;
}

interface AuditReport {
  message?: string;
  error?: unknown;
  vulnerabilities?: Record<string, { severity?: string; via?: unknown[] }>;
  metadata?: { vulnerabilities?: Record<string, number> };
}

const BLOCKING = ["high", "critical"];

/** Judges the JSON that `npm audit --json` printed. */
export function assessAudit(stdout: string): AuditVerdict {
  let report: AuditReport;
  try {
    report = JSON.parse(stdout) as AuditReport;
  } catch {
    return {
      outcome: "skip",
      message: "npm audit printed no report (is npm able to reach the registry?)",
    };
  }
  const counts = report.metadata?.vulnerabilities;
  if (!counts) {
    const reason = report.message ?? "no vulnerability counts in the report";
    return {
      outcome: "skip",
      message: `the registry's audit service could not be asked: ${reason.slice(0, 200)}`,
    };
  }
  const blocking = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) =>
    BLOCKING.includes(v.severity ?? ""),
  );
  const summary = Object.entries(counts)
    .filter(([severity, n]) => severity !== "total" && n > 0)
    .map(([severity, n]) => `${n} ${severity}`)
    .join(", ");
  if (blocking.length === 0 && !BLOCKING.some((severity) => (counts[severity] ?? 0) > 0)) {
    return {
      outcome: "pass",
      message: `no high or critical advisories in production dependencies${summary ? ` (${summary})` : ""}`,
    };
  }
  const lines = blocking.map(([name, v]) => {
    const titles = (v.via ?? [])
      .map((via) =>
        typeof via === "object" && via !== null ? (via as { title?: string; url?: string }) : null,
      )
      .filter((via) => via !== null)
      .map((via) => `${via.title ?? "advisory"} ${via.url ?? ""}`.trim());
    return `  ${name} (${v.severity}): ${titles.join("; ") || "via a vulnerable dependency"}`;
  });
  return {
    outcome: "fail",
    message: `high or critical advisories in production dependencies (${summary}):\n${lines.join("\n")}\nUpgrade them (npm audit fix, or a newer pinned version).`,
  };
}

function main(): number {
  const run = spawnSync("npm", ["audit", "--omit=dev", "--json"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  const verdict: AuditVerdict = run.error
    ? { outcome: "skip", message: `npm audit did not finish: ${run.error.message}` }
    : assessAudit(run.stdout);
  if (verdict.outcome === "skip" && process.env.AUDIT_REQUIRED === "1") {
    console.error(`npm audit FAILED (AUDIT_REQUIRED=1): ${verdict.message}`);
    return 1;
  }
  if (verdict.outcome === "fail") {
    console.error(`npm audit FAILED: ${verdict.message}`);
    return 1;
  }
  console.log(
    verdict.outcome === "skip"
      ? `npm audit SKIPPED: ${verdict.message}. Run it where the registry is reachable, or set AUDIT_REQUIRED=1 to fail instead.`
      : `npm audit: ${verdict.message}`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main();
}
