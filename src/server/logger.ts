import { pino, type Logger } from "pino";

// Paths pino must never print: credentials in headers and bodies.
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.aid",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "password",
  "*.password",
  "passwordHash",
  "*.passwordHash",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "secret",
  "*.secret",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}
