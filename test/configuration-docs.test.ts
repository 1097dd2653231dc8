/**
 * One list of environment variables, three places that must agree with the
 * code: the README's configuration table, `--help` (environment.ts) and
 * .env.example.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { CONFIG_VARIABLE_NAMES, parseConfig } from "../src/server/config.js";
import { ENVIRONMENT_VARIABLES } from "../src/server/environment.js";

const documented = ENVIRONMENT_VARIABLES.map((v) => v.name);

describe("the configuration variables", () => {
  it("--help documents exactly the variables the configuration reads", () => {
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLE_NAMES].sort());
  });

  it("the README's configuration table lists every one of them, with the same default", () => {
    const readme = readFileSync("README.md", "utf8");
    const section = readme.slice(
      readme.indexOf("## Configuration"),
      readme.indexOf("## Command line"),
    );
    const rows = [...section.matchAll(/^\| `([A-Z0-9_]+)` +\| (.+?) +\|/gm)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(rows.map(([name]) => name).sort()).toEqual([...documented].sort());
    for (const variable of ENVIRONMENT_VARIABLES) {
      expect(rows.find(([name]) => name === variable.name)?.[1], variable.name).toBe(
        variable.default,
      );
    }
  });

  it(".env.example names every one of them, and parses", () => {
    const example = readFileSync(".env.example", "utf8");
    const names = [...example.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect([...names].sort()).toEqual([...documented].sort());
    const values = Object.fromEntries(
      [...example.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(() => parseConfig(values)).not.toThrow();
  });
});
