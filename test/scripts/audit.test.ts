import { describe, expect, it } from "vitest";
import { assessAudit } from "../../scripts/audit.js";

const report = (counts: Record<string, number>, vulnerabilities: object = {}) =>
  JSON.stringify({
    auditReportVersion: 2,
    vulnerabilities,
    metadata: {
      vulnerabilities: { info: 0, low: 0, moderate: 0, high: 0, critical: 0, ...counts },
    },
  });

describe("assessAudit", () => {
  it("passes a clean report, and one with only low or moderate advisories", () => {
    expect(assessAudit(report({ total: 0 })).outcome).toBe("pass");
    expect(assessAudit(report({ moderate: 2, total: 2 }))).toMatchObject({
      outcome: "pass",
      message: expect.stringContaining("2 moderate"),
    });
  });

  it("fails on a high or critical advisory, naming the package and the advisory", () => {
    const verdict = assessAudit(
      report(
        { critical: 1, total: 1 },
        {
          jsonwebtoken: {
            severity: "critical",
            via: [{ title: "Key confusion", url: "https://github.com/advisories/GHSA-x" }],
          },
        },
      ),
    );
    expect(verdict.outcome).toBe("fail");
    expect(verdict.message).toContain(
      "jsonwebtoken (critical): Key confusion https://github.com/advisories/GHSA-x",
    );
  });

  it("skips, saying why, when the audit service cannot be reached", () => {
    const offline = JSON.stringify({
      message:
        "request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND",
      error: { summary: "", detail: "" },
    });
    expect(assessAudit(offline)).toMatchObject({
      outcome: "skip",
      message: expect.stringContaining("ENOTFOUND"),
    });
    expect(
      assessAudit(JSON.stringify({ message: "405 Method Not Allowed - POST …", statusCode: 405 }))
        .outcome,
    ).toBe("skip");
    expect(assessAudit("").outcome).toBe("skip");
  });
});
