#!/usr/bin/env bash
# The quick start on "a machine with nothing but Node": `npm start` in a
# network namespace of its own, where nothing answers on 5432 or 6379 (and
# the npm registry is unreachable too), so it must run embedded. Install
# first (`npm ci`): nothing can be fetched in there.
set -euo pipefail
cd "$(dirname "$0")/.."
exec unshare --map-root-user --net sh -c 'ip link set lo up && exec bash scripts/smoke.sh embedded'
