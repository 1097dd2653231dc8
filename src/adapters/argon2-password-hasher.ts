import { hash, verify, type Algorithm } from "@node-rs/argon2";
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

// `Algorithm` is an ambient `const enum` in @node-rs/argon2's types, and tsc
// refuses `Algorithm.Argon2id` as a value under verbatimModuleSyntax (TS2748),
// although the runtime export has it (non-enumerable, so it logs as `{}`). The
// number is spelled out; the annotation checks it against the declaration.
const ARGON2ID: Algorithm.Argon2id = 2;

/**
 * argon2id, version 19 (the default), 16-byte random salt (the package's), a
 * 32-byte hash: the same PHC strings the `argon2` package produced, except that
 * the parameters read `m=…,t=…,p=…` rather than `m=…,p=…,t=…`. Either order
 * verifies.
 */
export function createArgon2PasswordHasher(options: Argon2Options = {}): PasswordHasher {
  const params = { ...DEFAULT_ARGON2_OPTIONS, ...options, algorithm: ARGON2ID, outputLen: 32 };
  return {
    hash: (password) => hash(password, params),
    async verify(stored, password) {
      try {
        return await verify(stored, password);
      } catch {
        // A malformed stored hash verifies nothing.
        return false;
      }
    },
  };
}
