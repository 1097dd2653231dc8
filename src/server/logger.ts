import { pino, type Logger } from "pino";

// Paths pino must never print: credentials in headers and bodies.
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.aid",
  "req.headers.cookie",
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  "password",
  "*.password",
  "passwordHash",
  "*.passwordHash",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "currentPassword",
  "*.currentPassword",
  "newPassword",
  "*.newPassword",
  "secret",
  "*.secret",
  // body-parser errors carry the raw body, passwords included.
  "err.body",
  "*.err.body",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}
