import { createHmac } from "node:crypto";

/** base64url of a JSON value, or of a string taken as raw text (for not-JSON segments). */
export function segment(value: unknown, raw = false): string {
  const text = raw ? String(value) : JSON.stringify(value);
  return Buffer.from(text, "utf8").toString("base64url");
}

const HASH = { HS256: "sha256", HS384: "sha384", HS512: "sha512" } as const;

/**
 * A compact JWS built by hand, so tests can put anything in the header or
 * payload (jsonwebtoken refuses or rewrites much of what an attacker sends).
 */
export function forgeJws(
  header: unknown,
  payload: unknown,
  secret: string | Buffer,
  options: { hmac?: keyof typeof HASH; rawHeader?: boolean; rawPayload?: boolean } = {},
): string {
  const signingInput = `${segment(header, options.rawHeader)}.${segment(payload, options.rawPayload)}`;
  const signature = createHmac(HASH[options.hmac ?? "HS256"], secret)
    .update(signingInput)
    .digest("base64url");
  return `${signingInput}.${signature}`;
}
