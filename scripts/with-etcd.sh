#!/usr/bin/env bash
# Runs a command with ETCD_BIN / ETCDCTL_BIN exported (see ensure-etcd.sh): `bash scripts/with-etcd.sh CMD ARGS...`.
set -euo pipefail
# shellcheck source=scripts/ensure-etcd.sh
. "$(dirname "${BASH_SOURCE[0]}")/ensure-etcd.sh"
ensure_etcd
exec "$@"
