import { isVersion } from "./token-service.js";
import type { UserRecord } from "./ports.js";

/** Cache entries hold exactly these fields: no hash, no secrets. */
export function encodeCachedUser(user: UserRecord): string {
  return JSON.stringify({
    id: user.id,
    email: user.email,
    name: user.name,
    jwtVersion: user.jwtVersion,
  });
}

/**
 * Anything that is not a well-formed entry for this id is a miss: a corrupt
 * or foreign value must never be trusted for a version check.
 */
export function decodeCachedUser(raw: string | null, expectedId: string): UserRecord | null {
  if (raw === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.id !== expectedId) return null;
  if (typeof v.email !== "string") return null;
  if (v.name !== null && typeof v.name !== "string") return null;
  if (!isVersion(v.jwtVersion)) return null;
  return { id: v.id, email: v.email, name: v.name, jwtVersion: v.jwtVersion };
}

export function userCacheKey(prefix: string, id: string): string {
  return `${prefix}user:${id}`;
}
