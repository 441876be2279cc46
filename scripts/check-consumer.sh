#!/usr/bin/env bash
# Type-checks the package as a user installs it: packs the tarball, installs it (production dependencies only)
# into scratch consumer projects — one CommonJS, one ES module — and compiles a file that imports every subpath
# of package.json "exports" under each TypeScript moduleResolution a consumer may use: node10 (CommonJS only,
# through typesVersions), node16, nodenext and bundler. In ES-module modes it also checks that the `import`
# condition's declarations are the ES-module ones (dist/esm/*.d.mts). Uses this repository's TypeScript and
# @types/node, except for node10, which TypeScript 7 removed: that mode runs on TypeScript 5.9 (the line
# CommonJS projects on node10 use), installed into the scratch directory.
#
# Each mode runs twice: as the light install (no @grpc/grpc-js; skipLibCheck on, as `tsc --init` sets it —
# the generated service types in the declarations name @grpc/grpc-js types) and with @grpc/grpc-js installed
# and skipLibCheck off (every declaration of the package checked). The npm registry is asked only for the
# tarball's dependencies, @grpc/grpc-js and TypeScript 5.9 (cache first).
#
#   bash scripts/check-consumer.sh            (npm run check:consumer)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tsc="$root/node_modules/typescript/bin/tsc"
work="$(mktemp -d "${TMPDIR:-/tmp}/etcd-apiv3-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm_install() { npm install --no-audit --no-fund --prefer-offline --silent "$@"; }

(cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/etcd-apiv3-*.tgz)"

mkdir -p "$work/ts5"
(cd "$work/ts5" && echo '{ "private": true }' >package.json && npm_install typescript@5.9)
ts5="$work/ts5/node_modules/typescript/bin/tsc"
grpc_version="$(node -p 'require(process.argv[1]).devDependencies["@grpc/grpc-js"]' "$root/package.json")"

# The subpaths to import, from the one list (package.json "exports").
mapfile -t subpaths < <(node -e '
  const e = require(process.argv[1]).exports;
  for (const k of Object.keys(e)) if (k !== "./package.json") console.log(k === "." ? "etcd-apiv3" : "etcd-apiv3/" + k.slice(2));
' "$root/package.json")

failures=0
check() { # <project dir> <label> <module> <moduleResolution> <expect .d.mts: yes|no>
  local dir="$1" label="$2" module="$3" resolution="$4" esm="$5" compiler="$tsc" out
  [ "$resolution" = node10 ] && compiler="$ts5"
  cat >"$dir/tsconfig.$label.json" <<JSON
{
  "compilerOptions": {
    "module": "$module", "moduleResolution": "$resolution", "target": "es2022", "strict": true,
    "noEmit": true, "skipLibCheck": $skiplib, "types": ["node"], "typeRoots": ["$root/node_modules/@types"]
  },
  "files": ["consumer.ts"]
}
JSON
  if ! out="$(cd "$dir" && node "$compiler" -p "tsconfig.$label.json" --explainFiles 2>&1)"; then
    echo "FAIL $label ($setup): tsc reported errors"; grep -E 'error TS' <<<"$out" | head -20; failures=$((failures + 1)); return 0
  fi
  if [ "$esm" = yes ] && ! grep -q 'etcd-apiv3/dist/esm/index.d.mts' <<<"$out"; then
    echo "FAIL $label ($setup): the import condition did not resolve to dist/esm/index.d.mts"; failures=$((failures + 1)); return 0
  fi
  echo "ok   $label ($setup)"
}

consumer_source() { # the file every mode compiles: each subpath, named and namespace imports, real use
  local i=0
  for s in "${subpaths[@]}"; do echo "import * as m$i from '$s';"; echo "export const n$i = Object.keys(m$i).length;"; i=$((i + 1)); done
  cat <<'TS'
import { Client, KeepAlive, Watcher, EtcdError, type Response } from 'etcd-apiv3';
import { PutRequest } from 'etcd-apiv3/proto';
export async function use(): Promise<void> {
  const client = new Client('http://127.0.0.1:2379');
  const r: Response = await client.put('/k', 'v');
  const ka = new KeepAlive(client, 10);
  const id: bigint = await ka.ready();
  const w = new Watcher(client, '/k', (res) => res.events().length, true);
  w.onConnection((state, err) => (state === 'disconnected' ? err?.code : 0));
  const e: unknown = r;
  if (e instanceof EtcdError) e.code.toFixed();
  PutRequest.fromPartial({ key: Buffer.from(String(id)) });
  await client.close();
}
TS
}

for run in light with-grpc-js; do
  for kind in commonjs module; do
    dir="$work/$run-$kind"
    mkdir -p "$dir"
    printf '{ "name": "consumer-%s", "version": "1.0.0", "private": true, "type": "%s" }\n' "$kind" "$kind" >"$dir/package.json"
    (cd "$dir" && npm_install --omit=dev "$tarball")
    if [ "$run" = light ]; then
      setup="no @grpc/grpc-js, skipLibCheck"
      skiplib=true
      if [ -e "$dir/node_modules/@grpc/grpc-js" ]; then echo "FAIL: @grpc/grpc-js was installed without being asked for"; failures=$((failures + 1)); fi
    else
      setup="with @grpc/grpc-js, no skipLibCheck"
      skiplib=false
      (cd "$dir" && npm_install "@grpc/grpc-js@$grpc_version")
    fi
    consumer_source >"$dir/consumer.ts"
    if [ "$kind" = commonjs ]; then
      check "$dir" cjs-node10 commonjs node10 no
      check "$dir" cjs-node16 node16 node16 no
      check "$dir" cjs-nodenext nodenext nodenext no
      check "$dir" cjs-bundler esnext bundler yes
    else
      check "$dir" esm-node16 node16 node16 yes
      check "$dir" esm-nodenext nodenext nodenext yes
      check "$dir" esm-bundler esnext bundler yes
    fi
  done
done

if [ "$failures" -gt 0 ]; then echo "check-consumer: $failures check(s) failed"; exit 1; fi
echo "check-consumer: every subpath (${subpaths[*]}) type-checks in every mode"
