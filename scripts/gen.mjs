#!/usr/bin/env node
// Generates TypeScript from proto/ into generated/ with protoc + ts-proto.
//
//   node scripts/gen.mjs           wipe generated/ and regenerate it
//   node scripts/gen.mjs --check   generate into a temp dir and compare with
//                                  generated/ byte for byte (exit 1 if stale)
//
// Uses the protoc binary shipped in the `protoc` npm package and the
// ts-proto plugin from node_modules; no other dependencies.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PROTO_DIR = join(ROOT, "proto");
const OUT_DIR = join(ROOT, "generated");

export const TS_PROTO_OPTS = [
  "outputServices=grpc-js",
  // Service definitions and server types only: the generated client classes would load grpc-js at import time
  // (~15 MB of RSS) in every process, though the default transport never uses it.
  "outputClientImpl=false",
  "env=node",
  "esModuleInterop=true",
  "forceLong=bigint",
  "oneof=unions",
  "useOptionals=messages",
  "outputJsonMethods=false",
].join(",");

/** Path of the protoc executable and its well-known-types include dir, from the `protoc` npm package. */
export function protocPaths() {
  const pkgDir = join(ROOT, "node_modules", "protoc");
  const assetsFile = join(pkgDir, "assets.json");
  if (!existsSync(assetsFile)) {
    throw new Error(`protoc npm package not found at ${pkgDir} (run npm ci)`);
  }
  // Same lookup as the package's own protoc.cjs launcher.
  const assets = JSON.parse(readFileSync(assetsFile, "utf8"));
  const asset = assets.find((a) => a.platform === process.platform && a.arch === process.arch);
  if (!asset) {
    throw new Error(`the protoc npm package has no binary for ${process.platform}/${process.arch}`);
  }
  return { protoc: join(pkgDir, "bin", asset.executable), include: join(pkgDir, "include") };
}

/** All files under `dir` (recursively), as sorted paths relative to `dir` with "/" separators. */
export function listFiles(dir, filter = () => true) {
  const out = [];
  const walk = (d) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && filter(ent.name)) out.push(relative(dir, p).split(sep).join("/"));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

export function protoFiles() {
  const files = listFiles(PROTO_DIR, (n) => n.endsWith(".proto"));
  if (files.length === 0) throw new Error(`no .proto files under ${PROTO_DIR}`);
  return files;
}

/** Runs protoc + ts-proto over proto/ into `outDir` (which must exist and be empty). */
function generate(outDir) {
  const { protoc, include } = protocPaths();
  const plugin = join(
    ROOT,
    "node_modules",
    ".bin",
    process.platform === "win32" ? "protoc-gen-ts_proto.cmd" : "protoc-gen-ts_proto",
  );
  if (!existsSync(plugin)) throw new Error(`ts-proto plugin not found at ${plugin} (run npm ci)`);
  const args = [
    `--plugin=protoc-gen-ts_proto=${plugin}`,
    `--ts_proto_out=${outDir}`,
    `--ts_proto_opt=${TS_PROTO_OPTS}`,
    `--proto_path=${PROTO_DIR}`,
    `--proto_path=${include}`,
    ...protoFiles(),
  ];
  const r = spawnSync(protoc, args, { cwd: PROTO_DIR, stdio: ["ignore", "inherit", "inherit"] });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    console.error(`protoc failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function check() {
  const tmp = mkdtempSync(join(tmpdir(), "etcd-apiv3-gen-"));
  try {
    generate(tmp);
    const fresh = listFiles(tmp);
    const committed = listFiles(OUT_DIR);
    const all = [...new Set([...fresh, ...committed])].sort();
    const diffs = [];
    for (const f of all) {
      const inFresh = fresh.includes(f);
      const inCommitted = committed.includes(f);
      if (!inCommitted) diffs.push(`generated/${f}: missing (protoc would create it)`);
      else if (!inFresh) diffs.push(`generated/${f}: stale (protoc no longer produces it)`);
      else if (!readFileSync(join(tmp, f)).equals(readFileSync(join(OUT_DIR, f)))) {
        diffs.push(`generated/${f}: content differs`);
      }
    }
    if (diffs.length) {
      for (const d of diffs) console.error(d);
      console.error(`generated/ is out of date (${diffs.length} file(s)); run \`npm run gen\` and commit the result`);
      process.exit(1);
    }
    console.log(`generated/ is fresh (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length) {
    console.error(`usage: node scripts/gen.mjs [--check]  (unknown: ${unknown.join(" ")})`);
    process.exit(2);
  }
  if (args.includes("--check")) return check();
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  generate(OUT_DIR);
  const files = listFiles(OUT_DIR);
  console.log(`wrote ${files.length} files to generated/ from ${protoFiles().length} proto files`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
