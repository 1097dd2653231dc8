import { EmailTakenError } from "../core/errors.js";
import type { UserRecord, UserStore, UserWithPasswordHash } from "../core/ports.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RECORD = { id: true, email: true, name: true, jwtVersion: true } as const;

type Row = { id: string; email: string; name: string | null; jwtVersion: number };

/**
 * The part of a Prisma client this store uses. Any client generated from a
 * schema that contains this project's `User` model satisfies it.
 */
export interface PrismaUserClient {
  user: {
    findUnique(args: {
      where: { id: string } | { email: string };
      select: typeof RECORD & { passwordHash?: true };
    }): Promise<(Row & { passwordHash?: string }) | null>;
    create(args: {
      data: { email: string; passwordHash: string; name: string | null };
      select: typeof RECORD;
    }): Promise<Row>;
  };
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

// The increment and the repair record in one statement: atomic, one round
// trip, and a process killed after it still leaves the repair behind.
const INCREMENT_AND_RECORD_REPAIR = `
WITH updated AS (
  UPDATE "users" SET "jwt_version" = "jwt_version" + 1, "updated_at" = now()
  WHERE "id" = $1::uuid
  RETURNING "id", "email", "name", "jwt_version"
), repair AS (
  INSERT INTO "cache_repairs" ("user_id", "jwt_version", "created_at")
  SELECT "id", "jwt_version", now() FROM updated
  ON CONFLICT ("user_id") DO UPDATE
    SET "jwt_version" = GREATEST("cache_repairs"."jwt_version", EXCLUDED."jwt_version"),
        "created_at" = EXCLUDED."created_at"
)
SELECT "id"::text AS "id", "email", "name", "jwt_version" AS "jwtVersion" FROM updated`;

const PENDING_REPAIRS = `
SELECT u."id"::text AS "id", u."email", u."name", u."jwt_version" AS "jwtVersion"
FROM "cache_repairs" r JOIN "users" u ON u."id" = r."user_id"
ORDER BY r."created_at"
LIMIT $1`;

const CLEAR_REPAIR = `DELETE FROM "cache_repairs" WHERE "user_id" = $1::uuid AND "jwt_version" <= $2`;

export function createPrismaUserStore(prisma: PrismaUserClient): UserStore {
  return {
    async findById(id) {
      // Ids are UUIDs; anything else cannot name a user and must not reach Postgres as a cast error.
      if (!UUID.test(id)) return null;
      return prisma.user.findUnique({ where: { id }, select: RECORD });
    },

    async findByEmail(email) {
      const row = await prisma.user.findUnique({
        where: { email },
        select: { ...RECORD, passwordHash: true },
      });
      return row as UserWithPasswordHash | null;
    },

    async create(input) {
      try {
        return await prisma.user.create({ data: input, select: RECORD });
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },

    async incrementJwtVersion(id): Promise<UserRecord | null> {
      if (!UUID.test(id)) return null;
      const rows = await prisma.$queryRawUnsafe<UserRecord[]>(INCREMENT_AND_RECORD_REPAIR, id);
      return rows[0] ?? null;
    },

    pendingCacheRepairs(limit) {
      return prisma.$queryRawUnsafe<UserRecord[]>(PENDING_REPAIRS, limit);
    },

    async clearCacheRepair(id, jwtVersion) {
      await prisma.$executeRawUnsafe(CLEAR_REPAIR, id, jwtVersion);
    },

    async ping() {
      await prisma.$queryRawUnsafe("SELECT 1");
    },
  };
}

function prismaCode(error: unknown): unknown {
  return typeof error === "object" && error !== null
    ? (error as { code?: unknown }).code
    : undefined;
}

function isUniqueViolation(error: unknown): boolean {
  return prismaCode(error) === "P2002";
}
