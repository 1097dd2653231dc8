import { isVersion } from "./access-token-claims.js";
import type {
  CachedUser,
  RevokedSession,
  SessionEndReason,
  UserState,
  VersionReason,
} from "./ports.js";

const VERSION_REASONS = new Set<string>([
  "signed_out",
  "password_changed",
  "account_disabled",
  "revoked",
] satisfies VersionReason[]);
const SESSION_END_REASONS = new Set<string>([
  "signed_out",
  "signed_out_elsewhere",
  "refresh_token_reused",
  "password_changed",
  "account_disabled",
  "revoked",
] satisfies SessionEndReason[]);

/**
 * A cache entry holds exactly the state the per-request check needs: no
 * hash, no secret, no token. Revoked sessions are `[id, reason, until]`.
 * The Redis scripts read `id`, `revision` and `deleted` from it.
 */
export function encodeCachedUser(user: CachedUser): string {
  if ("deleted" in user) return JSON.stringify({ id: user.id, deleted: true });
  return JSON.stringify({
    id: user.id,
    email: user.email,
    name: user.name,
    jwtVersion: user.jwtVersion,
    revision: user.revision,
    disabled: user.disabled,
    versionReason: user.versionReason,
    revokedSessions: user.revokedSessions.map((s) => [s.id, s.reason, s.until]),
    overflow: user.revokedSessionsOverflow,
  });
}

/**
 * Anything that is not a well-formed entry for this id is a miss: a corrupt,
 * foreign or older-format value must never be trusted for a version check.
 */
export function decodeCachedUser(raw: string | null, expectedId: string): CachedUser | null {
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
  if (v.deleted === true) return { id: expectedId, deleted: true };
  if (typeof v.email !== "string") return null;
  if (v.name !== null && typeof v.name !== "string") return null;
  if (!isVersion(v.jwtVersion) || !isVersion(v.revision)) return null;
  if (typeof v.disabled !== "boolean" || typeof v.overflow !== "boolean") return null;
  if (v.versionReason !== null && !VERSION_REASONS.has(v.versionReason as string)) return null;
  if (!Array.isArray(v.revokedSessions)) return null;
  const revokedSessions: RevokedSession[] = [];
  for (const item of v.revokedSessions as unknown[]) {
    if (!Array.isArray(item) || item.length !== 3) return null;
    const [id, reason, until] = item as unknown[];
    if (typeof id !== "string" || !SESSION_END_REASONS.has(reason as string)) return null;
    if (!isVersion(until)) return null;
    revokedSessions.push({ id, reason: reason as SessionEndReason, until });
  }
  const state: UserState = {
    id: expectedId,
    email: v.email,
    name: v.name as string | null,
    jwtVersion: v.jwtVersion,
    revision: v.revision,
    disabled: v.disabled,
    versionReason: v.versionReason as VersionReason | null,
    revokedSessions,
    revokedSessionsOverflow: v.overflow,
  };
  return state;
}
