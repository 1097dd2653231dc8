#!/usr/bin/env bash
# Runs `npm start` on a private port and database and walks the three flows
# with curl, as the README's quick start does. Used by CI.
set -euo pipefail
# A port nothing listens on, so a leftover server cannot answer in our place.
PORT="${SMOKE_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}"
DB="jwt_auth_smoke_$$"
export PORT DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$DB" RATE_LIMIT=off LOG_LEVEL=warn
export JWT_SECRET="${JWT_SECRET:-$(node -e 'console.log(require("crypto").randomBytes(48).toString("base64url"))')}"
BASE="http://127.0.0.1:$PORT"

# Own process group, so cleanup stops npm and the node server it started.
setsid npm start >/tmp/smoke-$$.log 2>&1 &
pid=$!
cleanup() {
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 1 150); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "$BASE/healthz" >/dev/null || { cat /tmp/smoke-$$.log; echo "smoke: server did not start"; exit 1; }

json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)'"$1"'))'; }
expect() { [ "$1" = "$2" ] || { echo "smoke: expected $2, got $1 ($3)"; exit 1; }; }

email="smoke-$$@example.com"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$BASE/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}")
expect "$code" 201 register
token=$(curl -fs -XPOST "$BASE/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | json .accessToken)
expect "$(curl -fs "$BASE/me" -H "authorization: Bearer $token" | json .user.email)" "$email" me
expect "$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$BASE/logout" -H "authorization: Bearer $token")" 204 logout
expect "$(curl -s "$BASE/me" -H "authorization: Bearer $token" | json .error.code)" token_revoked "me after logout"
echo "smoke: ok (register, login, me, logout, revoked)"
