// `prisma generate` never runs the schema engine but still fetches it unless
// PRISMA_SCHEMA_ENGINE_BINARY names a file. Pointing it at node itself keeps
// generation offline-safe; set the variable yourself to override.
import { spawnSync } from "node:child_process";

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
const result = spawnSync("npx", ["prisma", "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
