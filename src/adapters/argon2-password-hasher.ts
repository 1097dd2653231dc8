import argon2 from "argon2";
import type { PasswordHasher } from "../core/ports.js";

export interface Argon2Options {
  /** KiB of memory per hash (default 19456, OWASP's minimum for argon2id). */
  memoryCost?: number;
  timeCost?: number;
  parallelism?: number;
}

export const DEFAULT_ARGON2_OPTIONS: Required<Argon2Options> = {
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
};

export function createArgon2PasswordHasher(options: Argon2Options = {}): PasswordHasher {
  const params = { ...DEFAULT_ARGON2_OPTIONS, ...options, type: argon2.argon2id } as const;
  return {
    hash: (password) => argon2.hash(password, params),
    async verify(hash, password) {
      try {
        return await argon2.verify(hash, password);
      } catch {
        // A malformed stored hash verifies nothing.
        return false;
      }
    },
  };
}
