#!/usr/bin/env bash
# `npm run test:examples:jest`: runs examples/testing.jest.test.cjs under jest in a scratch project that installs
# this package from its packed tarball (and jest from the registry), as a user's project would. Needs ETCD_BIN or
# ETCD_VERSION (see scripts/ensure-etcd.sh). Prints jest's summary; exits with jest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/ensure-etcd.sh
ensure_etcd
scratch=$(mktemp -d "${TMPDIR:-/tmp}/etcd-apiv3-jest.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
node scripts/build.mjs >/dev/null
tarball=$(npm pack --silent --pack-destination "$scratch" | tail -n 1)
cp examples/testing.jest.test.cjs "$scratch/"
cd "$scratch"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "./$tarball" jest@29.7.0 >/dev/null 2>&1
npx jest --ci --testMatch "**/*.test.cjs" 2>&1
