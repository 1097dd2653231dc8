# versioned-jwt-auth: the standalone service (node dist/src/server/main.js).
# Debian (glibc), not Alpine: @node-rs/argon2 loads the prebuilt binding npm
# installs for the platform (@node-rs/argon2-linux-x64-gnu, or -arm64-gnu), so
# no compiler is needed in either stage.

# --- build: install everything, generate the Prisma client, compile, prune ----
FROM node:20-bookworm-slim AS build
WORKDIR /app

# `npm ci` runs the postinstall `prisma generate`, which needs the schema, the
# Prisma config and the script itself; copying only these first keeps the
# dependency layer cached while src/ changes.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci

# .dockerignore keeps src/generated out, so this does not clobber the client
# generated above.
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# --ignore-scripts: prune must not re-run postinstall, which needs the prisma
# CLI that this very prune removes.
# --omit=optional: @prisma/client lists `prisma` and `typescript` as optional
# peers, so npm marks them (and the CLI's engines and Studio) devOptional, which
# --omit=dev alone keeps: ~250 MB more. The only other optional package is
# pg-cloudflare, which Node never loads. But npm lists @node-rs/argon2's
# per-platform bindings as optional dependencies too, so the one `npm ci`
# installed is set aside and put back, and loading it is checked.
RUN npm run build \
  && cp -a node_modules/@node-rs /tmp/node-rs \
  && npm prune --omit=dev --omit=optional --ignore-scripts \
  && cp -a /tmp/node-rs/. node_modules/@node-rs/ \
  && rm -rf /tmp/node-rs \
  && node -e "require('@node-rs/argon2').hashSync('image build check')"

# --- runtime -----------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

# Files stay root-owned and read-only to the `node` user: the service writes
# nothing to disk. package.json is needed at run time for "type": "module";
# prisma/ holds the migrations applied at start-up (DB_MIGRATE_ON_START), found
# by walking up from dist/src/db/, so it must sit beside dist/.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma

USER node
EXPOSE 3000

# No curl in the slim image: use node's fetch. /healthz is liveness only
# (/readyz also checks Postgres and Redis).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node runs as PID 1 directly (no npm wrapper) so SIGTERM reaches the service,
# which handles it with a graceful shutdown.
CMD ["node", "dist/src/server/main.js"]
