import { createSecretKey, type KeyObject } from "node:crypto";

export const MIN_SECRET_BYTES = 32;
/** What a `kid` may look like: short, printable, nothing a path or a query could use. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** A key of an earlier rotation: verifies tokens whose header names its `kid`, signs nothing. */
export interface VerificationKey {
  /**
   * The `kid` its tokens carry. Leave it out for the one key that verifies
   * tokens without a `kid` (issued before key ids were configured).
   */
  keyId?: string;
  /** HMAC secret, at least 32 bytes. */
  secret: string | Uint8Array;
}

export interface KeyRing {
  signing: KeyObject;
  /** Raw bytes of the signing secret, for keys derived from it. */
  signingSecret: Uint8Array;
  /** Verifies tokens without a `kid`, when one key has no id. */
  unnamed: KeyObject | undefined;
  named: Map<string, KeyObject>;
  /** Every secret, signing one first: for checks that try each key. */
  allSecrets: Uint8Array[];
}

/**
 * KeyObjects, not raw strings: jsonwebtoken 9 otherwise tries (and fails) to
 * parse a string secret as a public key on every verify.
 */
export function createKeyRing(settings: {
  secret: string | Uint8Array;
  keyId?: string;
  previousKeys?: readonly VerificationKey[];
}): KeyRing {
  const signingSecret = toSecretBytes(settings.secret, "token secret");
  const ring: KeyRing = {
    signing: createSecretKey(signingSecret),
    signingSecret,
    unnamed: undefined,
    named: new Map(),
    allSecrets: [signingSecret],
  };
  const add = (keyId: string | undefined, key: KeyObject, what: string) => {
    if (keyId === undefined) {
      if (ring.unnamed) throw new TypeError("at most one token key may be without a key id");
      ring.unnamed = key;
      return;
    }
    if (typeof keyId !== "string" || !KEY_ID_PATTERN.test(keyId)) {
      throw new TypeError(`key id of the ${what} must match ${KEY_ID_PATTERN}`);
    }
    if (ring.named.has(keyId)) throw new TypeError(`duplicate token key id: ${keyId}`);
    ring.named.set(keyId, key);
  };
  add(settings.keyId, ring.signing, "token secret");
  for (const [index, previous] of (settings.previousKeys ?? []).entries()) {
    const what = `previous key #${index + 1}`;
    const bytes = toSecretBytes(previous.secret, what);
    ring.allSecrets.push(bytes);
    add(previous.keyId, createSecretKey(bytes), what);
  }
  return ring;
}

function toSecretBytes(secret: string | Uint8Array, what: string): Uint8Array {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`${what} must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}
