# Sourced by scripts/test.sh and scripts/start.sh: makes sure an etcd binary is available. Installs Debian's
# etcd-server and etcd-client with apt when etcd is missing and we may (root, or password-less sudo);
# otherwise says exactly what to install and exits 1.

ETCD_REQUIRED_MSG='etcd is required: install the Debian packages etcd-server and etcd-client (apt-get install etcd-server etcd-client), or set ETCD_BIN to an etcd 3.4 binary'

have_etcd() {
  command -v "${ETCD_BIN:-etcd}" >/dev/null 2>&1
}

ensure_etcd() {
  have_etcd && return 0
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=''
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        sudo='sudo -n'
      else
        sudo='none'
      fi
    fi
    if [ "$sudo" != none ]; then
      echo "==> installing etcd (apt-get install etcd-server etcd-client)"
      $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client
      hash -r
      have_etcd && return 0
    fi
  fi
  echo "$ETCD_REQUIRED_MSG"
  exit 1
}
