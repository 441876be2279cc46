#!/usr/bin/env bash
# `npm start`: the demo. Needs etcd only when ETCD_ENDPOINTS is not set (the demo then starts its own).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/ensure-etcd.sh
. scripts/ensure-etcd.sh
if [ ! -d node_modules/tsx ]; then
  echo "==> installing node modules"
  if [ -f package-lock.json ]; then npm ci; else npm install; fi
fi
if [ -z "${ETCD_ENDPOINTS:-}" ]; then ensure_etcd; fi
exec node -r tsx/cjs examples/demo.ts "$@"
