import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { MIN_SECRET_BYTES } from "../core/key-ring.js";
import type { ServerConfig } from "./config.js";
import { StartupError } from "./startup-error.js";

/**
 * JWT_SECRET when set. Otherwise (never in production: config refuses) a
 * random secret kept in the data directory, readable by this user only, so
 * a first `npx versioned-jwt-auth` works and tokens survive restarts.
 */
export async function resolveSigningSecret(config: ServerConfig, logger: Logger): Promise<string> {
  if (config.jwtSecret !== undefined) return config.jwtSecret;
  const dir = resolve(config.dataDir);
  const path = join(dir, "jwt-secret");
  const existing = await readFile(path, "utf8").catch(() => null);
  if (existing !== null) {
    const secret = existing.trim();
    if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      throw new StartupError(`${path} holds a secret shorter than ${MIN_SECRET_BYTES} bytes`);
    }
    logger.info({ path }, "JWT_SECRET not set: signing with the secret kept in the data directory");
    return secret;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString("base64url");
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
  logger.info(
    { path },
    "JWT_SECRET not set: created a random signing secret in the data directory",
  );
  return secret;
}
