// Generates the Prisma client into src/generated/prisma, and skips the work
// when the schema and the Prisma version are those of the last generation
// (every `npm start`, `npm test` and `npm run build` calls this).
//
// `prisma generate` never runs the schema engine but still fetches it unless
// PRISMA_SCHEMA_ENGINE_BINARY names a file. Pointing it at node itself keeps
// generation offline-safe; set the variable yourself to override.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const output = "src/generated/prisma";
const stampFile = `${output}/.generated-from`;
const prismaVersion = createRequire(import.meta.url)("prisma/package.json").version;
const stamp = createHash("sha256")
  .update(`${prismaVersion}\n`)
  .update(readFileSync("prisma/schema.prisma"))
  .digest("hex");
if (existsSync(`${output}/client.ts`) && existsSync(stampFile)) {
  if (readFileSync(stampFile, "utf8").trim() === stamp) process.exit(0);
}

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const result = spawnSync("npx", ["prisma", "generate"], { stdio: "inherit", env });
if (result.status === 0) writeFileSync(stampFile, `${stamp}\n`);
process.exit(result.status ?? 1);
