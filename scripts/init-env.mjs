// Creates .env from .env.example on first start, with a random JWT_SECRET,
// so a fresh clone runs without a shared or default secret. Never overwrites,
// and never in production: there a missing JWT_SECRET must stop the start.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const production = process.env.NODE_ENV === "production";
if (!production && !existsSync(".env") && !process.env.JWT_SECRET) {
  const secret = randomBytes(48).toString("base64url");
  const example = readFileSync(".env.example", "utf8");
  // A named key from the start, so it can be rotated later (README: "Rotating the signing key").
  const keyId = new Date().toISOString().slice(0, 10);
  const env = example
    .replace(/^JWT_SECRET=.*$/m, `JWT_SECRET=${secret}`)
    .replace(/^JWT_KEY_ID=.*$/m, `JWT_KEY_ID=${keyId}`);
  writeFileSync(".env", env, { mode: 0o600 });
  console.log(`created .env with a random JWT_SECRET (key id ${keyId})`);
}
