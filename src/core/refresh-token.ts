import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

// version(1) | session id(16) | secret part(32) | tag(16), base64url: 87 characters.
const FORMAT_VERSION = 1;
const SECRET_BYTES = 32;
const TAG_BYTES = 16;
const TOKEN_BYTES = 1 + 16 + SECRET_BYTES + TAG_BYTES;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{87}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ParsedRefreshToken {
  sessionId: string;
  /** SHA-256 of the whole token, base64url: what the store keeps. */
  hash: string;
}

export interface RefreshTokenCodec {
  /** The first refresh token of a session: 256 random bits. */
  issue(sessionId: string): string;
  /**
   * The token that replaces `token` on rotation. Derived (HMAC with a server
   * key), so a repeat of the same spent token within the grace period gets
   * the very same successor instead of forking the session.
   */
  successor(token: string): string;
  /**
   * The session a token names, when the token was made by this service (its
   * tag checks out under the current or a previous key); null otherwise. A
   * forged or mangled token is refused here, before any store read.
   */
  parse(token: string): ParsedRefreshToken | null;
  hash(token: string): string;
}

/**
 * Opaque refresh tokens that name their session and carry a tag made with a
 * key derived from the token signing secrets. The tag lets the service tell
 * a spent token of a session (theft: RFC 9700 §4.14.2) from a forged one
 * without storing every token it ever issued; the store keeps only hashes.
 */
export function createRefreshTokenCodec(secrets: readonly Uint8Array[]): RefreshTokenCodec {
  if (secrets.length === 0) throw new TypeError("refresh tokens need at least one secret");
  const keys = secrets.map((secret) => ({
    tag: derive(secret, "refresh-token tag"),
    successor: derive(secret, "refresh-token successor"),
  }));
  const current = keys[0]!;

  function assemble(sessionBytes: Buffer, secretPart: Buffer): string {
    const body = Buffer.concat([Buffer.of(FORMAT_VERSION), sessionBytes, secretPart]);
    const tag = createHmac("sha256", current.tag).update(body).digest().subarray(0, TAG_BYTES);
    return Buffer.concat([body, tag]).toString("base64url");
  }

  function decode(token: string): Buffer | null {
    if (!TOKEN_PATTERN.test(token)) return null;
    const bytes = Buffer.from(token, "base64url");
    // One spelling per token: base64url's spare bits could otherwise give a
    // second string (and a second hash) for the same bytes.
    if (bytes.toString("base64url") !== token) return null;
    if (bytes.length !== TOKEN_BYTES || bytes[0] !== FORMAT_VERSION) return null;
    const body = bytes.subarray(0, TOKEN_BYTES - TAG_BYTES);
    const tag = bytes.subarray(TOKEN_BYTES - TAG_BYTES);
    const authentic = keys.some((key) =>
      timingSafeEqual(
        createHmac("sha256", key.tag).update(body).digest().subarray(0, TAG_BYTES),
        tag,
      ),
    );
    return authentic ? bytes : null;
  }

  const hash = (token: string) => createHash("sha256").update(token).digest("base64url");

  return {
    issue(sessionId) {
      return assemble(uuidToBytes(sessionId), randomBytes(SECRET_BYTES));
    },
    successor(token) {
      const bytes = Buffer.from(token, "base64url");
      const secretPart = createHmac("sha256", current.successor).update(token).digest();
      return assemble(bytes.subarray(1, 17), secretPart);
    },
    parse(token) {
      const bytes = decode(token);
      if (!bytes) return null;
      return { sessionId: bytesToUuid(bytes.subarray(1, 17)), hash: hash(token) };
    },
    hash,
  };
}

function derive(secret: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "versioned-jwt-auth", info, 32));
}

function uuidToBytes(id: string): Buffer {
  if (!UUID.test(id)) throw new TypeError("session ids are lower-case UUIDs");
  return Buffer.from(id.replaceAll("-", ""), "hex");
}

function bytesToUuid(bytes: Buffer): string {
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
