-- Every change of what the per-request check sees raises "revision"; caches
-- keep the newest copy by it. "version_reason" says why tokens were last
-- revoked; "version_revision" (the revision of that change) tells which
-- revoked sessions the version already covers.
ALTER TABLE "users" ADD COLUMN "revision" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "disabled_at" TIMESTAMPTZ(3),
ADD COLUMN "version_reason" TEXT,
ADD COLUMN "version_revision" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "sessions" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "refresh_token_hash" TEXT NOT NULL,
    "previous_token_hash" TEXT,
    "rotated_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "access_expires_at" TIMESTAMPTZ(3) NOT NULL,
    "user_agent" TEXT,
    "revoked_at" TIMESTAMPTZ(3),
    "revoke_reason" TEXT,
    "revoked_revision" INTEGER,

    CONSTRAINT "sessions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "sessions_user_id_idx" ON "sessions"("user_id");

-- AddForeignKey
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Repairs outlive their user (a deletion must reach the cache too) and are
-- kept after they are applied, for replays after a cache failover.
ALTER TABLE "cache_repairs" DROP CONSTRAINT "cache_repairs_user_id_fkey";
ALTER TABLE "cache_repairs" DROP COLUMN "jwt_version",
ADD COLUMN "revision" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "applied_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "cache_repairs_created_at_idx" ON "cache_repairs"("created_at");
