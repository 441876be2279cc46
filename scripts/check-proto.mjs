#!/usr/bin/env node
// Checks that proto/ declares exactly etcd 3.4.23's v3 wire API.
//
//   node scripts/check-proto.mjs
//
// Reference: etcd's own .proto files from Debian's golang-etcd-server-dev
// 3.4.23-4 package (sha256-pinned). The .deb is taken from $ETCD_PROTO_DEB,
// else from the cache .tmp/proto-ref/, else fetched with `apt-get download`
// into that cache. It is only unpacked (dpkg-deb -x), never installed.
//
// Both sides are compiled by protoc into descriptor sets and compared
// structurally: services, methods (types, streaming), messages (nested too),
// fields (name, number, type, type name, label, oneof, json name, packed,
// proto3 optional), enums and enum values. Comments, ordering and options
// that do not affect the wire are ignored.
//
// Exit codes: 0 = identical, 1 = differences, 2 = reference/tooling problem.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromBinary, isFieldSet } from "@bufbuild/protobuf";
import {
  FieldDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldOptionsSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { listFiles, protocPaths } from "./gen.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PROTO_DIR = join(ROOT, "proto");
const CACHE_DIR = join(ROOT, ".tmp", "proto-ref");

const DEB_PACKAGE = "golang-etcd-server-dev";
const DEB_VERSION = "3.4.23-4";
const DEB_FILE = `${DEB_PACKAGE}_${DEB_VERSION}_all.deb`;
const DEB_SHA256 = "d296370c539f7e6df608cca64cfbae1c330f03944af49e3b33af5d565cee9d49";
const ETCD_VERSION = "3.4.23";
// Where the package puts etcd's sources, and the five files that make up the
// client-facing v3 API. etcd imports them as "etcd/<path>".
const ETCD_SRC = "usr/share/gocode/src/go.etcd.io/etcd";
const ETCD_FILES = [
  "mvcc/mvccpb/kv.proto",
  "auth/authpb/auth.proto",
  "etcdserver/etcdserverpb/rpc.proto",
  "etcdserver/api/v3lock/v3lockpb/v3lock.proto",
  "etcdserver/api/v3election/v3electionpb/v3election.proto",
];
const ETCD_IMPORT_PREFIX = "etcd/";

/** Reference or tooling problem (exit 2). */
class ToolingError extends Error {}
/** proto/ itself is broken, e.g. does not compile (exit 1). */
class OursError extends Error {}

// ---------------------------------------------------------------- reference .deb

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  return { ok: !r.error && r.status === 0, missing: r.error?.code === "ENOENT", status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim(), error: r.error };
}

function howToGetDeb(reason) {
  return [
    `cannot obtain etcd's reference .deb: ${reason}`,
    "",
    `Get ${DEB_FILE} (sha256 ${DEB_SHA256}) by one of:`,
    `  - on Debian 12 (bookworm): apt-get download ${DEB_PACKAGE}=${DEB_VERSION}`,
    `  - from https://snapshot.debian.org/package/etcd/${DEB_VERSION}/ (binary package ${DEB_PACKAGE}, arch all)`,
    `then either put it in ${relative(ROOT, CACHE_DIR)}/ or run with ETCD_PROTO_DEB=/path/to/${DEB_FILE}`,
  ].join("\n");
}

/** Returns the path of the reference .deb, downloading it into the cache if needed. */
function obtainDeb() {
  const fromEnv = process.env.ETCD_PROTO_DEB;
  if (fromEnv) {
    const p = resolve(fromEnv);
    if (!existsSync(p) || !statSync(p).isFile()) throw new ToolingError(`ETCD_PROTO_DEB=${fromEnv} is not a file`);
    return p;
  }
  const cached = join(CACHE_DIR, DEB_FILE);
  if (existsSync(cached)) return cached;

  mkdirSync(CACHE_DIR, { recursive: true });
  const spec = `${DEB_PACKAGE}=${DEB_VERSION}`;
  console.error(`fetching ${spec} with apt-get download into ${relative(ROOT, CACHE_DIR)}/ ...`);
  let r = run("apt-get", ["download", spec], { cwd: CACHE_DIR });
  if (r.missing) throw new ToolingError(howToGetDeb("apt-get is not available"));
  if (!r.ok) {
    console.error(`apt-get download failed; refreshing package lists (apt-get update) and retrying:\n${indent(r.out)}`);
    const u = run("apt-get", ["update"]);
    if (!u.ok) throw new ToolingError(howToGetDeb(`apt-get update failed:\n${indent(u.out)}`));
    r = run("apt-get", ["download", spec], { cwd: CACHE_DIR });
    if (!r.ok) throw new ToolingError(howToGetDeb(`apt-get download ${spec} failed:\n${indent(r.out)}`));
  }
  if (!existsSync(cached)) throw new ToolingError(howToGetDeb(`apt-get download did not produce ${DEB_FILE}`));
  return cached;
}

function verifyDeb(path) {
  const sum = createHash("sha256").update(readFileSync(path)).digest("hex");
  if (sum !== DEB_SHA256) {
    throw new ToolingError(
      [
        `SHA-256 MISMATCH for ${path}`,
        `  expected ${DEB_SHA256}`,
        `  got      ${sum}`,
        "This is not the pinned etcd 3.4.23 reference; refusing to compare against it.",
        path.startsWith(CACHE_DIR) ? `Delete it (rm ${relative(ROOT, path)}) to re-download.` : "",
      ].filter(Boolean).join("\n"),
    );
  }
}

/** Unpacks the .deb into a fresh directory and returns etcd's source root inside it. */
function extractDeb(deb) {
  const dest = join(CACHE_DIR, "x");
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const r = run("dpkg-deb", ["-x", deb, dest]);
  if (r.missing) throw new ToolingError("dpkg-deb is not available (install the dpkg package, or run on Debian/Ubuntu)");
  if (!r.ok) throw new ToolingError(`dpkg-deb -x ${deb} failed:\n${indent(r.out)}`);
  const src = join(dest, ETCD_SRC);
  for (const f of ETCD_FILES) {
    if (!existsSync(join(src, f))) throw new ToolingError(`${DEB_FILE} does not contain ${ETCD_SRC}/${f}`);
  }
  return src;
}

// ---------------------------------------------------------------- compiling with protoc

// etcd's files import gogoproto and google.api annotations only for options.
// These stubs declare those options (names as in the real files) so protoc
// accepts etcd's files unmodified; their values never reach the comparison.
const GOGO_STUB = `syntax = "proto2";
package gogoproto;
import "google/protobuf/descriptor.proto";
extend google.protobuf.EnumOptions {
  optional bool goproto_enum_prefix = 62001; optional bool goproto_enum_stringer = 62021;
  optional bool enum_stringer = 62022; optional string enum_customname = 62023; optional bool enumdecl = 62024;
}
extend google.protobuf.EnumValueOptions { optional string enumvalue_customname = 66001; }
extend google.protobuf.FileOptions {
  optional bool goproto_getters_all = 63001; optional bool goproto_enum_prefix_all = 63002;
  optional bool goproto_stringer_all = 63003; optional bool verbose_equal_all = 63004;
  optional bool face_all = 63005; optional bool gostring_all = 63006; optional bool populate_all = 63007;
  optional bool stringer_all = 63008; optional bool onlyone_all = 63009; optional bool equal_all = 63013;
  optional bool description_all = 63014; optional bool testgen_all = 63015; optional bool benchgen_all = 63016;
  optional bool marshaler_all = 63017; optional bool unmarshaler_all = 63018; optional bool stable_marshaler_all = 63019;
  optional bool sizer_all = 63020; optional bool goproto_enum_stringer_all = 63021; optional bool enum_stringer_all = 63022;
  optional bool unsafe_marshaler_all = 63023; optional bool unsafe_unmarshaler_all = 63024;
  optional bool goproto_extensions_map_all = 63025; optional bool goproto_unrecognized_all = 63026;
  optional bool gogoproto_import = 63027; optional bool protosizer_all = 63028; optional bool compare_all = 63029;
  optional bool typedecl_all = 63030; optional bool enumdecl_all = 63031; optional bool goproto_registration = 63032;
  optional bool messagename_all = 63033; optional bool goproto_sizecache_all = 63034; optional bool goproto_unkeyed_all = 63035;
}
extend google.protobuf.MessageOptions {
  optional bool goproto_getters = 64001; optional bool goproto_stringer = 64003; optional bool verbose_equal = 64004;
  optional bool face = 64005; optional bool gostring = 64006; optional bool populate = 64007; optional bool stringer = 67008;
  optional bool onlyone = 64009; optional bool equal = 64013; optional bool description = 64014; optional bool testgen = 64015;
  optional bool benchgen = 64016; optional bool marshaler = 64017; optional bool unmarshaler = 64018;
  optional bool stable_marshaler = 64019; optional bool sizer = 64020; optional bool unsafe_marshaler = 64023;
  optional bool unsafe_unmarshaler = 64024; optional bool goproto_extensions_map = 64025;
  optional bool goproto_unrecognized = 64026; optional bool protosizer = 64028; optional bool compare = 64029;
  optional bool typedecl = 64030; optional bool messagename = 64033; optional bool goproto_sizecache = 64034;
  optional bool goproto_unkeyed = 64035;
}
extend google.protobuf.FieldOptions {
  optional bool nullable = 65001; optional bool embed = 65002; optional string customtype = 65003;
  optional string customname = 65004; optional string jsontag = 65005; optional string moretags = 65006;
  optional string casttype = 65007; optional string castkey = 65008; optional string castvalue = 65009;
  optional bool stdtime = 65010; optional bool stdduration = 65011; optional bool wktpointer = 65012;
}
`;

const GOOGLE_API_STUB = `syntax = "proto3";
package google.api;
import "google/protobuf/descriptor.proto";
extend google.protobuf.MethodOptions { HttpRule http = 72295728; }
message HttpRule {
  string selector = 1;
  oneof pattern {
    string get = 2; string put = 3; string post = 4; string delete = 5; string patch = 6;
    CustomHttpPattern custom = 8;
  }
  string body = 7;
  string response_body = 12;
  repeated HttpRule additional_bindings = 11;
}
message CustomHttpPattern { string kind = 1; string path = 2; }
`;
const STUB_FILES = new Set(["gogoproto/gogo.proto", "google/api/annotations.proto"]);

function protoc(includes, files, out, ErrorClass = ToolingError) {
  const { protoc: bin, include } = protocPaths();
  const args = [...includes.map((i) => `--proto_path=${i}`), `--proto_path=${include}`, "--include_imports", `--descriptor_set_out=${out}`, ...files];
  const r = run(bin, args);
  if (r.missing || r.error) throw new ToolingError(`cannot run protoc at ${bin}: ${r.error?.message}`);
  if (!r.ok) throw new ErrorClass(`protoc failed (${r.error?.message ?? `exit ${r.status}`}):\n${indent(r.out)}\n  command: ${bin} ${args.join(" ")}`);
  return fromBinary(FileDescriptorSetSchema, readFileSync(out));
}

/** Descriptor set of etcd's five files, staged as etcd/<path> next to the option stubs. */
function describeEtcd(etcdSrc, work) {
  const stage = join(work, "etcd-include");
  for (const f of ETCD_FILES) {
    const dst = join(stage, ETCD_IMPORT_PREFIX, f);
    mkdirSync(dirname(dst), { recursive: true });
    copyFileSync(join(etcdSrc, f), dst);
  }
  for (const [p, text] of [["gogoproto/gogo.proto", GOGO_STUB], ["google/api/annotations.proto", GOOGLE_API_STUB]]) {
    mkdirSync(dirname(join(stage, p)), { recursive: true });
    writeFileSync(join(stage, p), text);
  }
  const set = protoc([stage], ETCD_FILES.map((f) => ETCD_IMPORT_PREFIX + f), join(work, "etcd.pb"));
  // Keep etcd's five files only, named as in our tree (without "etcd/").
  const files = set.file.filter((f) => f.name.startsWith(ETCD_IMPORT_PREFIX));
  const unprefix = (n) => (n.startsWith(ETCD_IMPORT_PREFIX) ? n.slice(ETCD_IMPORT_PREFIX.length) : n);
  return files.map((f) => ({ fd: f, name: unprefix(f.name), deps: f.dependency.filter((d) => !STUB_FILES.has(d)).map(unprefix) }));
}

/** Descriptor set of every file under proto/ (plus anything they import). */
function describeOurs(work) {
  const ours = listFiles(PROTO_DIR, (n) => n.endsWith(".proto"));
  if (ours.length === 0) throw new ToolingError("no .proto files under proto/");
  const set = protoc([PROTO_DIR], ours, join(work, "ours.pb"), OursError);
  return set.file.map((f) => ({ fd: f, name: f.name, deps: [...f.dependency] }));
}

// ---------------------------------------------------------------- flattening + comparing

const typeName = (t) => (FieldDescriptorProto_Type[t] ?? String(t)).toLowerCase();
const labelName = (l) => (FieldDescriptorProto_Label[l] ?? String(l)).toLowerCase();

/**
 * Flattens descriptor files into a Map key -> { kind, props }, where key is a
 * readable fully qualified name (e.g. "etcdserverpb.RangeRequest.limit").
 */
function flatten(files) {
  const items = new Map();
  const add = (key, kind, props = {}) => {
    if (items.has(key)) throw new ToolingError(`duplicate element ${key}`);
    items.set(key, { kind, props });
  };
  for (const { fd, name, deps } of files) {
    const pkg = fd.package;
    add(`file ${name}`, "file", { package: pkg, syntax: fd.syntax || "proto2", imports: [...deps].sort().join(", ") || "(none)" });
    const q = (n) => (pkg ? `${pkg}.${n}` : n);

    const addEnum = (prefix, e) => {
      add(`${prefix}${e.name}`, "enum", { allow_alias: e.options?.allowAlias ? "true" : "false" });
      for (const v of e.value) add(`${prefix}${e.name}.${v.name}`, "enum value", { number: v.number });
    };
    const addField = (key, f, oneofs) => {
      const props = {
        number: f.number,
        label: labelName(f.label),
        type: typeName(f.type),
        type_name: f.typeName || "(none)",
        oneof: isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && !f.proto3Optional ? oneofs[f.oneofIndex] : "(none)",
        proto3_optional: f.proto3Optional ? "true" : "false",
        json_name: f.jsonName || "(default)",
        packed: f.options && isFieldSet(f.options, FieldOptionsSchema.field.packed) ? String(f.options.packed) : "(default)",
        default_value: isFieldSet(f, FieldDescriptorProtoSchema.field.defaultValue) ? f.defaultValue : "(none)",
      };
      if (f.extendee) props.extendee = f.extendee;
      add(key, f.extendee ? "extension" : "field", props);
    };
    const addMessage = (prefix, m) => {
      const full = `${prefix}${m.name}`;
      // Synthetic oneofs of proto3 `optional` fields are covered by proto3_optional.
      const synthetic = new Set(m.field.filter((f) => f.proto3Optional).map((f) => f.oneofIndex));
      const oneofs = m.oneofDecl.map((o) => o.name);
      add(full, "message", { oneofs: oneofs.filter((_, i) => !synthetic.has(i)).join(", ") || "(none)" });
      for (const f of m.field) addField(`${full}.${f.name}`, f, oneofs);
      for (const x of m.extension) addField(`${full}.(extension ${x.name})`, x, oneofs);
      for (const e of m.enumType) addEnum(`${full}.`, e);
      for (const n of m.nestedType) addMessage(`${full}.`, n);
    };

    for (const m of fd.messageType) addMessage(q(""), m);
    for (const e of fd.enumType) addEnum(q(""), e);
    for (const x of fd.extension) addField(q(`(extension ${x.name})`), x, []);
    for (const s of fd.service) {
      add(q(s.name), "service");
      for (const m of s.method) {
        add(`${q(s.name)}.${m.name}`, "method", {
          input: m.inputType,
          output: m.outputType,
          client_streaming: m.clientStreaming ? "true" : "false",
          server_streaming: m.serverStreaming ? "true" : "false",
        });
      }
    }
  }
  return items;
}

function compare(etcd, ours) {
  const diffs = [];
  for (const [key, e] of etcd) {
    const o = ours.get(key);
    if (!o) {
      diffs.push(`${key}: ${e.kind} missing in ours`);
      continue;
    }
    if (o.kind !== e.kind) {
      diffs.push(`${key}: is a ${e.kind} in etcd, a ${o.kind} in ours`);
      continue;
    }
    for (const p of new Set([...Object.keys(e.props), ...Object.keys(o.props)])) {
      const ev = e.props[p] ?? "(none)";
      const ov = o.props[p] ?? "(none)";
      if (String(ev) !== String(ov)) diffs.push(`${key}: ${p} ${ev} in etcd, ${ov} in ours`);
    }
  }
  for (const [key, o] of ours) {
    if (!etcd.has(key)) diffs.push(`${key}: ${o.kind} only in ours (not in etcd)`);
  }
  return diffs;
}

function indent(s) {
  return s.split("\n").map((l) => `    ${l}`).join("\n");
}

function main() {
  const started = Date.now();
  const deb = obtainDeb();
  verifyDeb(deb);
  const etcdSrc = extractDeb(deb);

  const work = mkdtempSync(join(tmpdir(), "etcd-apiv3-check-proto-"));
  let etcd, ours;
  try {
    etcd = flatten(describeEtcd(etcdSrc, work));
    ours = flatten(describeOurs(work));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const diffs = compare(etcd, ours);
  const count = (kind) => [...etcd.values()].filter((i) => i.kind === kind).length;
  const summary = `${count("service")} services, ${count("method")} methods, ${count("message")} messages, ${count("field")} fields, ${count("enum")} enums`;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (diffs.length) {
    for (const d of diffs) console.log(d);
    console.log(`proto/ differs from etcd ${ETCD_VERSION} in ${diffs.length} place(s) (etcd has ${summary}; ${secs}s)`);
    process.exit(1);
  }
  console.log(`proto/ matches etcd ${ETCD_VERSION}: ${summary}`);
}

try {
  main();
} catch (err) {
  if (err instanceof OursError) {
    console.error(`check-proto: proto/ does not compile, so it cannot match etcd ${ETCD_VERSION}: ${err.message}`);
    process.exit(1);
  }
  if (err instanceof ToolingError) {
    console.error(`check-proto: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
