// Creates .env from .env.example on first start, with a random JWT_SECRET,
// so a fresh clone runs without a shared or default secret. Never overwrites.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

if (!existsSync(".env") && !process.env.JWT_SECRET) {
  const secret = randomBytes(48).toString("base64url");
  const example = readFileSync(".env.example", "utf8");
  writeFileSync(".env", example.replace(/^JWT_SECRET=.*$/m, `JWT_SECRET=${secret}`), {
    mode: 0o600,
  });
  console.log("created .env with a random JWT_SECRET");
}
