-- CreateTable
CREATE TABLE "cache_repairs" (
    "user_id" UUID NOT NULL,
    "jwt_version" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "cache_repairs_pkey" PRIMARY KEY ("user_id")
);

-- AddForeignKey
ALTER TABLE "cache_repairs" ADD CONSTRAINT "cache_repairs_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
