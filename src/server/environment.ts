/**
 * Every environment variable the standalone server and the CLI read, with
 * its default and meaning: printed by `--help`, and checked against the
 * README's configuration table and config.ts by a test.
 */
export const ENVIRONMENT_VARIABLES: readonly {
  name: string;
  default: string;
  meaning: string;
}[] = [
  {
    name: "JWT_SECRET",
    default: "none (outside production: generated into DATA_DIR)",
    meaning: "HMAC signing secret, at least 32 bytes; required in production",
  },
  {
    name: "JWT_KEY_ID",
    default: "none",
    meaning: "`kid` of new tokens; set it to be able to rotate keys",
  },
  {
    name: "JWT_PREVIOUS_KEYS",
    default: "none",
    meaning: "keys still accepted for verification: kid:secret,kid:secret",
  },
  { name: "JWT_ALGORITHM", default: "HS256", meaning: "HS256, HS384 or HS512" },
  {
    name: "JWT_ISSUER",
    default: "versioned-jwt-auth",
    meaning: "`iss` claim, checked on every request",
  },
  {
    name: "JWT_AUDIENCE",
    default: "versioned-jwt-auth",
    meaning: "`aud` claim, checked on every request",
  },
  { name: "JWT_EXPIRES_IN_SECONDS", default: "900", meaning: "access token lifetime, 1 to 86400" },
  {
    name: "JWT_CLOCK_TOLERANCE_SECONDS",
    default: "5",
    meaning: "allowed clock skew for iat/nbf/exp, 0 to 300",
  },
  {
    name: "REFRESH_TOKEN_TTL_SECONDS",
    default: "2592000",
    meaning: "absolute lifetime of a session and its refresh tokens (30 days)",
  },
  {
    name: "REFRESH_REUSE_GRACE_SECONDS",
    default: "10",
    meaning:
      "a repeat of a spent refresh token this soon after its rotation gets the same new pair (0: always theft)",
  },
  { name: "PORT", default: "3000", meaning: "HTTP port" },
  { name: "HOST", default: "all interfaces", meaning: "address the HTTP port binds to" },
  {
    name: "NODE_ENV",
    default: "none",
    meaning: "`production`: nothing embedded unless EMBEDDED=on, JWT_SECRET required",
  },
  {
    name: "EMBEDDED",
    default: "auto",
    meaning:
      "auto: use local Postgres/Redis if they answer, else run them in-process; on: in-process for what is not configured; off: never",
  },
  {
    name: "DATA_DIR",
    default: ".data",
    meaning: "embedded database, lock and generated secret (private, 0700)",
  },
  {
    name: "DATABASE_URL",
    default: "local Postgres (auto/off) or embedded",
    meaning: "PostgreSQL connection string",
  },
  {
    name: "DATABASE_SCHEMA",
    default: "auth",
    meaning: "Postgres schema of the auth tables and their migration history",
  },
  { name: "DATABASE_POOL_SIZE", default: "10", meaning: "Postgres connections per instance" },
  {
    name: "DATABASE_CONNECT_TIMEOUT_MS",
    default: "5000",
    meaning: "longest wait for a Postgres connection",
  },
  {
    name: "DATABASE_STATEMENT_TIMEOUT_MS",
    default: "5000",
    meaning: "longest Postgres statement (server-side statement_timeout)",
  },
  {
    name: "DB_MIGRATE_ON_START",
    default: "on",
    meaning: "create the database/schema if missing and apply the migrations at start-up",
  },
  {
    name: "REDIS_URL",
    default: "local Redis (auto/off) or in-process",
    meaning: "one Redis server: redis://[user:password@]host:port[/db] (rediss:// for TLS)",
  },
  {
    name: "REDIS_SENTINELS",
    default: "none",
    meaning: "Sentinel: host:port,host:port of the sentinels",
  },
  {
    name: "REDIS_SENTINEL_NAME",
    default: "none",
    meaning: "Sentinel: the primary's name (required with REDIS_SENTINELS)",
  },
  {
    name: "REDIS_SENTINEL_PASSWORD",
    default: "none",
    meaning: "Sentinel: password of the sentinels themselves",
  },
  {
    name: "REDIS_CLUSTER_NODES",
    default: "none",
    meaning: "Cluster: host:port,host:port of some nodes",
  },
  {
    name: "REDIS_USERNAME",
    default: "none",
    meaning: "Sentinel/Cluster: ACL user of the data nodes",
  },
  {
    name: "REDIS_PASSWORD",
    default: "none",
    meaning: "Sentinel/Cluster: password of the data nodes",
  },
  { name: "REDIS_TLS", default: "off", meaning: "Sentinel/Cluster: TLS to the nodes" },
  {
    name: "REDIS_COMMAND_TIMEOUT_MS",
    default: "200",
    meaning: "per-command Redis timeout; past it a request reads Postgres",
  },
  {
    name: "REDIS_WAIT_REPLICAS",
    default: "1 with Sentinel, else 0",
    meaning: "replicas that must acknowledge a revocation (WAIT) before it answers success",
  },
  {
    name: "REDIS_WAIT_TIMEOUT_MS",
    default: "250",
    meaning: "how long a revocation waits for those acknowledgements",
  },
  { name: "CACHE_TTL_SECONDS", default: "3600", meaning: "lifetime of a cached user" },
  { name: "CACHE_KEY_PREFIX", default: "auth:", meaning: "prefix of every Redis key (no { or })" },
  {
    name: "CACHE_BREAKER_FAILURES",
    default: "3",
    meaning: "consecutive Redis failures after which lookups go straight to Postgres",
  },
  {
    name: "CACHE_REPAIR_INTERVAL_MS",
    default: "1000",
    meaning: "repair loop period: applies changes Redis missed, replays after failovers",
  },
  {
    name: "RATE_LIMIT",
    default: "on",
    meaning: "throttle login, refresh, password change and registration",
  },
  { name: "REGISTRATION", default: "on", meaning: "serve POST /register" },
  { name: "ALLOW_AID_HEADER", default: "off", meaning: "also accept the token in an `aid` header" },
  {
    name: "TRUST_PROXY",
    default: "false",
    meaning: "Express `trust proxy`: true, a hop count, or addresses",
  },
  { name: "ARGON2_MEMORY_KIB", default: "19456", meaning: "argon2id memory cost" },
  { name: "ARGON2_ITERATIONS", default: "2", meaning: "argon2id time cost" },
  { name: "ARGON2_PARALLELISM", default: "1", meaning: "argon2id lanes" },
  { name: "METRICS", default: "on", meaning: "serve Prometheus metrics on their own port" },
  { name: "METRICS_HOST", default: "127.0.0.1", meaning: "address of the metrics port" },
  { name: "METRICS_PORT", default: "9464", meaning: "metrics port (GET /metrics)" },
  {
    name: "LOG_LEVEL",
    default: "info",
    meaning: "fatal, error, warn, info, debug, trace or silent",
  },
  {
    name: "SHUTDOWN_TIMEOUT_MS",
    default: "10000",
    meaning: "on SIGTERM/SIGINT, how long in-flight requests may take",
  },
];
