# Sourced by scripts/test.sh, scripts/start.sh and scripts/with-etcd.sh: makes sure an etcd binary is available and
# exports ETCD_BIN and ETCDCTL_BIN for the launcher.
#   ETCD_BIN set          → that binary (etcdctl: ETCDCTL_BIN, else the etcdctl beside it, else on PATH)
#   ETCD_VERSION=3.6      → the pinned etcd 3.6 from `npm run etcd:bin` (obtained the first time)
#   neither               → etcd:bin's default (the newest pinned etcd; Debian's 3.4 when Go is missing)

ensure_etcd() {
  if [ -n "${ETCD_BIN:-}" ]; then
    if ! command -v "$ETCD_BIN" >/dev/null 2>&1; then
      echo "ETCD_BIN=$ETCD_BIN is not an executable"
      exit 1
    fi
    if [ -z "${ETCDCTL_BIN:-}" ]; then
      local beside
      beside="$(dirname "$(command -v "$ETCD_BIN")")/etcdctl"
      if [ -x "$beside" ]; then export ETCDCTL_BIN="$beside"; fi
    fi
    export ETCD_BIN
    return 0
  fi
  local bin
  bin="$(node "$(dirname "${BASH_SOURCE[0]}")/etcd-bin.mjs" ${ETCD_VERSION:+"$ETCD_VERSION"})" || {
    echo "etcd is required: see the messages above (npm run etcd:bin), or set ETCD_BIN to an etcd binary"
    exit 1
  }
  export ETCD_BIN="$bin"
  export ETCDCTL_BIN="$(dirname "$bin")/etcdctl"
}
