#!/usr/bin/env bash
# `npx versioned-jwt-auth` from a packed install, on "a machine with nothing but
# Node": pack, install the tarball into a scratch project (the registry is
# reachable here), then run the quick start in a network namespace where
# nothing answers.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm pack --pack-destination "$work" >/dev/null 2>&1
mkdir "$work/app"
(cd "$work/app" && echo '{"name":"app","private":true}' >package.json &&
  npm install --no-audit --no-fund "$work"/versioned-jwt-auth-*.tgz >/dev/null 2>&1)
unshare --map-root-user --net sh -c "ip link set lo up && exec bash scripts/smoke.sh npx '$work/app'"
