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
    update(args: {
      where: { id: string };
      data: { jwtVersion: { increment: number } };
      select: typeof RECORD;
    }): Promise<Row>;
  };
  $queryRawUnsafe(query: string): Promise<unknown>;
}

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
      try {
        // A single UPDATE … SET jwt_version = jwt_version + 1 RETURNING …: atomic under concurrency.
        return await prisma.user.update({
          where: { id },
          data: { jwtVersion: { increment: 1 } },
          select: RECORD,
        });
      } catch (error) {
        if (isRecordNotFound(error)) return null;
        throw error;
      }
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

function isRecordNotFound(error: unknown): boolean {
  return prismaCode(error) === "P2025";
}
