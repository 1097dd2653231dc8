# versioned-jwt-auth: the standalone service.
# node:24 (the current LTS line) on Debian slim (glibc): @node-rs/argon2 loads
# the prebuilt binding npm installs for the platform, so neither stage needs a
# compiler, and the package has no install script.

# --- build: compile and pack the package, then install it as any app would ----
FROM node:24-bookworm-slim AS build
WORKDIR /src

# `npm ci` runs `prepare` (prisma generate), which needs the schema, the Prisma
# config and the script; copying only these first keeps the dependency layer
# cached while src/ changes.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund

# .dockerignore keeps src/generated out, so this does not clobber the client
# generated above. `npm pack` runs `prepack` (the build).
COPY tsconfig.json tsconfig.build.json README.md LICENSE .env.example ./
COPY src ./src
RUN npm pack --pack-destination /tmp

# The image holds what `npm install versioned-jwt-auth` gives an app: the
# package, its dependencies and its peers (Prisma, ioredis, Express), no dev
# tools. The argon2 binding is checked to load.
WORKDIR /app
RUN echo '{"name":"auth-service","private":true}' > package.json \
  && npm install --omit=dev --no-audit --no-fund /tmp/versioned-jwt-auth-*.tgz \
  && node -e "require('@node-rs/argon2').hashSync('image build check')" \
  && node node_modules/versioned-jwt-auth/dist/src/server/bin.js --version

# --- runtime -----------------------------------------------------------------
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

# Files stay root-owned and read-only to the `node` user: with Postgres and
# Redis configured (compose does), the service writes nothing to disk.
COPY --from=build /app ./

USER node
EXPOSE 3000

# No curl in the slim image: use node's fetch. /healthz is liveness only
# (/readyz also checks Postgres and Redis).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node runs as PID 1 directly (no npm wrapper) so SIGTERM reaches the service,
# which handles it with a graceful shutdown.
CMD ["node", "node_modules/versioned-jwt-auth/dist/src/server/main.js"]
