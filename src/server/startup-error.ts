/** A refusal to start: its message is one clear line for the operator. */
export class StartupError extends Error {}

// Connection errors are safe to print (host, port, reason); URLs with passwords are not.
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause =
    error instanceof Error && error.cause instanceof Error && error.cause.message !== message
      ? `: ${error.cause.message}`
      : "";
  return `${message}${cause}`.replace(/\/\/[^@/\s]*@/g, "//[redacted]@");
}
