#!/usr/bin/env bash
# Test runner: `npm test` (everything) or `npm test -- unit` / `npm run test:unit`
# (only test/unit, no etcd needed).
#
# Every test file (test/**/*.test.ts) runs in its own process under `timeout`,
# so a hanging or crashing file cannot take the others down. The uvu summaries
# are aggregated and the last line is always "N passed, N failed[, N skipped]".
#
# Environment:
#   TEST_FILTER        only run files whose path contains this substring
#   TEST_FILE_TIMEOUT  per-file timeout in seconds (default 240)
#   ETCD_BIN           etcd binary to use (default: etcd on PATH)
set -uo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-all}"
case "$MODE" in
  all | unit) ;;
  *) echo "usage: $0 [unit]" >&2; exit 2 ;;
esac
FILE_TIMEOUT="${TEST_FILE_TIMEOUT:-240}"
export ETCD_APIV3_TEST=1

# shellcheck source=scripts/ensure-etcd.sh
. "$(dirname "$0")/ensure-etcd.sh"

ensure_node_modules() {
  if [ ! -x node_modules/.bin/uvu ] || [ ! -d node_modules/tsx ]; then
    echo "==> installing node modules"
    if [ -f package-lock.json ]; then npm ci; else npm install; fi || exit 1
  fi
}

strip_ansi() {
  sed -E 's/\x1b\[[0-9;?]*[A-Za-z]//g'
}

regex_escape() {
  printf '%s' "$1" | sed -e 's/[][\.*^$()+?{}|/]/\\&/g'
}

ensure_node_modules
if [ "$MODE" = all ]; then
  ensure_etcd
  echo "==> $("${ETCD_BIN:-etcd}" --version 2>/dev/null | head -n 1)"
fi

if [ "$MODE" = unit ]; then ROOT=test/unit; else ROOT=test; fi
FILES=()
if [ -d "$ROOT" ]; then
  while IFS= read -r f; do
    if [ -n "${TEST_FILTER:-}" ] && [[ "$f" != *"$TEST_FILTER"* ]]; then continue; fi
    FILES+=("$f")
  done < <(find "$ROOT" -type f -name '*.test.ts' -not -path '*/node_modules/*' | LC_ALL=C sort)
fi

if [ "${#FILES[@]}" -eq 0 ]; then
  echo "no test files found under $ROOT${TEST_FILTER:+ matching TEST_FILTER=$TEST_FILTER}"
  echo "0 passed, 0 failed"
  exit 1
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/etcd-apiv3-test.XXXXXX")"
CHILD=''
TAILER=''
cleanup() {
  [ -n "$TAILER" ] && kill "$TAILER" 2>/dev/null
  rm -rf "$TMP"
}
on_signal() {
  # `timeout` runs in its own process group; forwarding the signal to it makes it
  # signal that whole group (uvu, node, etcd children).
  [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null
  cleanup
  echo
  echo "interrupted"
  exit 130
}
trap on_signal INT TERM HUP
trap cleanup EXIT

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
START_ALL=$(date +%s)

for f in "${FILES[@]}"; do
  rel="${f#test/}"
  out="$TMP/$(printf '%s' "$rel" | tr '/' '_').log"
  : >"$out"
  echo
  echo "━━ $f"
  t0=$(date +%s%N)
  timeout -k 10 "$FILE_TIMEOUT" node_modules/.bin/uvu -r tsx/cjs test "^$(regex_escape "$rel")\$" \
    </dev/null >"$out" 2>&1 &
  CHILD=$!
  # Stream the file's output while it runs.
  tail -n +1 -s 0.2 --pid="$CHILD" -f "$out" &
  TAILER=$!
  wait "$CHILD"
  rc=$?
  wait "$TAILER" 2>/dev/null
  CHILD=''
  TAILER=''
  ms=$((($(date +%s%N) - t0) / 1000000))

  plain="$(strip_ansi <"$out")"
  total="$(printf '%s\n' "$plain" | sed -nE 's/^[[:space:]]*Total:[[:space:]]+([0-9]+).*/\1/p' | tail -n 1)"
  passed="$(printf '%s\n' "$plain" | sed -nE 's/^[[:space:]]*Passed:[[:space:]]+([0-9]+).*/\1/p' | tail -n 1)"
  skipped="$(printf '%s\n' "$plain" | sed -nE 's/^[[:space:]]*Skipped:[[:space:]]+([0-9]+).*/\1/p' | tail -n 1)"

  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    why="timed out after ${FILE_TIMEOUT}s"
  else
    why="exit code $rc"
  fi

  if [ -z "$total" ] || [ -z "$passed" ]; then
    FAILED=$((FAILED + 1))
    FAILURES+=("$f ($why, no uvu summary)")
    echo "!! $f: $why, no uvu summary — counted as 1 failed"
    continue
  fi
  skipped="${skipped:-0}"
  failed=$((total - passed))
  PASSED=$((PASSED + passed))
  SKIPPED=$((SKIPPED + skipped))
  if [ "$failed" -gt 0 ]; then
    FAILED=$((FAILED + failed))
    if [ "$rc" -eq 0 ]; then
      # uvu swallows errors thrown by before/after hooks: exit 0, Passed < Total, no message.
      why="exit code 0: a before/after hook probably threw (uvu does not print hook errors)"
    fi
    FAILURES+=("$f ($failed of $total failed, $why)")
  elif [ "$rc" -ne 0 ]; then
    FAILED=$((FAILED + 1))
    FAILURES+=("$f (all $total passed but $why)")
    echo "!! $f: all tests passed but $why — counted as 1 failed"
  fi
  echo "   ($f: ${ms} ms)"
done

echo
echo "━━ $((${#FILES[@]})) file(s) in $(($(date +%s) - START_ALL)) s"
if [ "${#FAILURES[@]}" -gt 0 ]; then
  echo "failed files:"
  for x in "${FAILURES[@]}"; do echo "  - $x"; done
fi
summary="$PASSED passed, $FAILED failed"
[ "$SKIPPED" -gt 0 ] && summary="$summary, $SKIPPED skipped"
echo "$summary"
[ "$FAILED" -eq 0 ] || exit 1
exit 0
