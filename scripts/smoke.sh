#!/usr/bin/env bash
# Runs `npm start` on a private port and walks the README's quick start with
# curl: register → login → me → logout → me (revoked). Used by CI.
#   scripts/smoke.sh            against the local Postgres (a database of its own) and Redis
#   scripts/smoke.sh embedded   with nothing configured (run it where nothing answers:
#                               scripts/smoke-embedded.sh), then restarts and logs in again
#   scripts/smoke.sh npx DIR    the same, with `npx versioned-jwt-auth` in a project DIR that
#                               installed the packed package (scripts/smoke-npx.sh)
set -euo pipefail
mode="${1:-services}"
# A port nothing listens on, so a leftover server cannot answer in our place.
PORT="${SMOKE_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}"
export PORT METRICS_PORT=0 RATE_LIMIT=off LOG_LEVEL=warn
BASE="http://127.0.0.1:$PORT"
LOG="$(mktemp)"
if [ "$mode" = embedded ] || [ "$mode" = npx ]; then
  SCRATCH="$(mktemp -d)"
  export DATA_DIR="$SCRATCH/.data" DATABASE_URL= REDIS_URL= EMBEDDED= JWT_SECRET=
else
  DB="jwt_auth_smoke_$$"
  export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$DB" CACHE_KEY_PREFIX="smoke-$$:"
  export JWT_SECRET="${JWT_SECRET:-$(node -e 'console.log(require("crypto").randomBytes(48).toString("base64url"))')}"
fi

pid=""
# start [mode [dir]]
start() {
  # Own process group, so stop() ends npm and the node server it started.
  if [ "$mode" = npx ]; then
    (cd "$2" && exec setsid npx --no-install versioned-jwt-auth) >>"$LOG" 2>&1 &
  else
    setsid npm start >>"$LOG" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 300); do curl -fs "$BASE/readyz" >/dev/null && return; sleep 0.2; done
  cat "$LOG"; echo "smoke: server did not start"; exit 1
}
stop() {
  [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  pid=""
}
cleanup() {
  stop
  if [ -n "${SCRATCH:-}" ]; then rm -rf "$SCRATCH"; else
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null || true
    redis-cli -h 127.0.0.1 --scan --pattern "$CACHE_KEY_PREFIX*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  fi
}
trap cleanup EXIT

json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
expect() { [ "$1" = "$2" ] || { cat "$LOG"; echo "smoke: expected $2, got $1 ($3)"; exit 1; }; }
login() {
  curl -fs -XPOST "$BASE/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | json .accessToken
}

start "$@"
if [ "$mode" != services ]; then
  # npm prints its own lines first; the server's first line is its first JSON line.
  first="$(grep -m1 '^{' "$LOG")"
  expect "$(json .postgres <<<"$first")" "embedded (PGlite) in $DATA_DIR" "first log line: postgres"
  expect "$(json .cache <<<"$first")" "in-process (this instance only)" "first log line: cache"
fi
email="smoke-$$@example.com"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$BASE/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}")
expect "$code" 201 register
token=$(login)
expect "$(curl -fs "$BASE/me" -H "authorization: Bearer $token" | json .user.email)" "$email" me
expect "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$BASE/logout" -H "authorization: Bearer $token")" 204 logout
expect "$(curl -s "$BASE/me" -H "authorization: Bearer $token" | json .error.code)" token_revoked "me after logout"
if [ "$mode" != services ]; then
  stop
  start "$@"
  again=$(login)
  expect "$(curl -fs "$BASE/me" -H "authorization: Bearer $again" | json .user.email)" "$email" "me after a restart"
  expect "$(curl -s "$BASE/me" -H "authorization: Bearer $token" | json .error.code)" token_revoked "old token after a restart"
fi
if [ "$mode" = services ]; then
  # SIGTERM to npm alone (a process manager's stop): the server must go too.
  kill -TERM "$pid"
  for _ in $(seq 1 100); do curl -s "$BASE/healthz" >/dev/null || break; sleep 0.2; done
  curl -s "$BASE/healthz" >/dev/null && { cat "$LOG"; echo "smoke: server outlived npm"; exit 1; }
  wait "$pid" 2>/dev/null || true
  pid=""
fi
echo "smoke ($mode): ok (register, login, me, logout, revoked$([ "$mode" != services ] && echo ", restart, login again" || echo ", stops with npm"))"
