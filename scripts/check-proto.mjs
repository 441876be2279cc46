#!/usr/bin/env node
// Checks that proto/ declares exactly the v3 wire API of the etcd release
// pinned for 3.7 in etcd/versions.json.
//
//   node scripts/check-proto.mjs
//
// Reference: etcd's own .proto files as the Go module cache holds them:
// go.etcd.io/etcd/api/v3 (rpc, kv, auth) and go.etcd.io/etcd/server/v3
// (v3lock, v3election) at that version, located with
// `go mod download -json`. Nothing is vendored into the repository: a warm
// module cache is enough (no network), otherwise Go fetches the two modules
// through its proxy (GOPROXY, GOFLAGS and GOMODCACHE are honoured).
//
// Both sides are compiled by protoc into descriptor sets and compared
// structurally: services, methods (types, streaming), messages (nested too),
// fields (name, number, type, type name, label, oneof, json name, packed,
// proto3 optional), enums and enum values. Comments, ordering, file layout and
// options that do not affect the wire are ignored.
//
// Exit codes: 0 = identical, 1 = differences, 2 = reference/tooling problem
// (among them: Go is not installed).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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
const VERSIONS_FILE = join(ROOT, "etcd", "versions.json");
const REFERENCE_MINOR = "3.7";

// etcd's client-facing files, by Go module: [path in the module, path in our
// proto/ tree]. etcd's files import each other as "etcd/api/<path>"; ours keep
// the 3.4 layout, which is only a naming choice (the wire knows packages and
// message names, not file paths).
const ETCD_MODULES = [
  {
    module: "go.etcd.io/etcd/api/v3",
    importPrefix: "etcd/api/",
    files: [
      ["mvccpb/kv.proto", "mvcc/mvccpb/kv.proto"],
      ["authpb/auth.proto", "auth/authpb/auth.proto"],
      ["etcdserverpb/rpc.proto", "etcdserver/etcdserverpb/rpc.proto"],
    ],
    // Declares option extensions only (which etcd release introduced a
    // message or field); staged so that etcd's files compile, never compared.
    optionFiles: ["versionpb/version.proto"],
  },
  {
    module: "go.etcd.io/etcd/server/v3",
    importPrefix: "etcd/server/",
    files: [
      ["etcdserver/api/v3lock/v3lockpb/v3lock.proto", "etcdserver/api/v3lock/v3lockpb/v3lock.proto"],
      ["etcdserver/api/v3election/v3electionpb/v3election.proto", "etcdserver/api/v3election/v3electionpb/v3election.proto"],
    ],
    optionFiles: [],
  },
];

/** Reference or tooling problem (exit 2). */
class ToolingError extends Error {}
/** proto/ itself is broken, e.g. does not compile (exit 1). */
class OursError extends Error {}

// ---------------------------------------------------------------- reference from the Go module cache

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  return { ok: !r.error && r.status === 0, missing: r.error?.code === "ENOENT", status: r.status, stdout: r.stdout ?? "", out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim(), error: r.error };
}

/** The etcd release pinned for REFERENCE_MINOR, e.g. "3.7.4". */
function pinnedVersion() {
  let versions;
  try {
    versions = JSON.parse(readFileSync(VERSIONS_FILE, "utf8"));
  } catch (err) {
    throw new ToolingError(`cannot read ${VERSIONS_FILE}: ${err.message}`);
  }
  const v = versions?.versions?.[REFERENCE_MINOR]?.version;
  if (typeof v !== "string" || !/^\d+\.\d+\.\d+$/.test(v)) {
    throw new ToolingError(`etcd/versions.json has no release pinned for ${REFERENCE_MINOR} (versions["${REFERENCE_MINOR}"].version)`);
  }
  return v;
}

/**
 * Directories of etcd's modules at `version` in the Go module cache, fetching
 * them through the Go module proxy when the cache does not have them yet.
 * Returns Map module -> directory.
 */
function moduleDirs(version) {
  const specs = ETCD_MODULES.map((m) => `${m.module}@v${version}`);
  // Run outside any module (a fresh temp dir), so that a go.mod or go.work in
  // a parent directory cannot change what is resolved.
  const cwd = mkdtempSync(join(tmpdir(), "etcd-apiv3-check-proto-go-"));
  try {
    const env = { ...process.env, GOFLAGS: [process.env.GOFLAGS, "-mod=mod"].filter(Boolean).join(" "), GOWORK: "off" };
    const r = run("go", ["mod", "download", "-json", ...specs], { cwd, env });
    if (r.missing) {
      throw new ToolingError(
        [
          `this check needs Go: it reads etcd ${version}'s own .proto files from the Go module cache`,
          `(go mod download ${specs.join(" ")}), and no \`go\` command is on PATH.`,
          "Install Go (https://go.dev/dl/) or run the check where Go is available (CI has it).",
        ].join("\n"),
      );
    }
    // -json prints one object per module, also on failure (with an Error field).
    const dirs = new Map();
    const problems = [];
    for (const obj of parseJsonObjects(r.stdout)) {
      if (obj.Error) problems.push(`${obj.Path}@${obj.Version}: ${obj.Error}`);
      else if (obj.Dir) dirs.set(obj.Path, obj.Dir);
    }
    for (const m of ETCD_MODULES) if (!dirs.has(m.module) && problems.length === 0) problems.push(`${m.module}@v${version}: no directory reported`);
    if (!r.ok || problems.length) {
      throw new ToolingError(`go mod download failed for etcd ${version}'s modules:\n${indent(problems.join("\n") || r.out)}`);
    }
    return dirs;
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

/** Parses a stream of concatenated JSON objects (what `go ... -json` prints). */
function parseJsonObjects(text) {
  const out = [];
  let depth = 0, start = -1, inString = false, escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && --depth === 0) {
      out.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  return out;
}

// ---------------------------------------------------------------- compiling with protoc

// etcd's files import google.api annotations and grpc-gateway's openapiv2
// options for their REST gateway only. These stubs declare those options (names
// as in the real files, just enough structure for the values etcd sets) so that
// protoc accepts etcd's files unmodified; their values never reach the
// comparison.
const OPENAPIV2_STUB = `syntax = "proto3";
package grpc.gateway.protoc_gen_openapiv2.options;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FileOptions { Swagger openapiv2_swagger = 1042; }
message Swagger {
  SecurityDefinitions security_definitions = 11;
  repeated SecurityRequirement security = 12;
}
message SecurityDefinitions { map<string, SecurityScheme> security = 1; }
message SecurityScheme {
  enum Type { TYPE_INVALID = 0; TYPE_BASIC = 1; TYPE_API_KEY = 2; TYPE_OAUTH2 = 3; }
  enum In { IN_INVALID = 0; IN_QUERY = 1; IN_HEADER = 2; }
  Type type = 1;
  string description = 2;
  string name = 3;
  In in = 4;
}
message SecurityRequirement {
  message SecurityRequirementValue { repeated string scope = 1; }
  map<string, SecurityRequirementValue> security_requirement = 1;
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
const STUB_FILES = [
  ["google/api/annotations.proto", GOOGLE_API_STUB],
  ["protoc-gen-openapiv2/options/annotations.proto", OPENAPIV2_STUB],
];

function protoc(includes, files, out, ErrorClass = ToolingError) {
  const { protoc: bin, include } = protocPaths();
  const args = [...includes.map((i) => `--proto_path=${i}`), `--proto_path=${include}`, "--include_imports", `--descriptor_set_out=${out}`, ...files];
  const r = run(bin, args);
  if (r.missing || r.error) throw new ToolingError(`cannot run protoc at ${bin}: ${r.error?.message}`);
  if (!r.ok) throw new ErrorClass(`protoc failed (${r.error?.message ?? `exit ${r.status}`}):\n${indent(r.out)}\n  command: ${bin} ${args.join(" ")}`);
  return fromBinary(FileDescriptorSetSchema, readFileSync(out));
}

/**
 * Descriptor set of etcd's client-facing files, staged under their import
 * names ("etcd/api/...", "etcd/server/...") next to the option stubs, and
 * renamed to our tree's file names.
 */
function describeEtcd(dirs, work) {
  const stage = join(work, "etcd-include");
  const stageFile = (name, from, text) => {
    const dst = join(stage, name);
    mkdirSync(dirname(dst), { recursive: true });
    if (from) copyFileSync(from, dst);
    else writeFileSync(dst, text);
  };
  const ourName = new Map(); // import name -> our file name
  const optionOnly = new Set(STUB_FILES.map(([n]) => n));
  for (const m of ETCD_MODULES) {
    const dir = dirs.get(m.module);
    for (const [inModule, ours] of m.files) {
      const src = join(dir, inModule);
      if (!existsSync(src)) throw new ToolingError(`${m.module} (${dir}) has no ${inModule}`);
      stageFile(m.importPrefix + inModule, src);
      ourName.set(m.importPrefix + inModule, ours);
    }
    for (const inModule of m.optionFiles) {
      const src = join(dir, inModule);
      if (!existsSync(src)) throw new ToolingError(`${m.module} (${dir}) has no ${inModule}`);
      stageFile(m.importPrefix + inModule, src);
      optionOnly.add(m.importPrefix + inModule);
    }
  }
  for (const [name, text] of STUB_FILES) stageFile(name, null, text);
  const set = protoc([stage], [...ourName.keys()], join(work, "etcd.pb"));
  return set.file
    .filter((f) => ourName.has(f.name))
    .map((f) => ({
      fd: f,
      name: ourName.get(f.name),
      deps: f.dependency.filter((d) => !optionOnly.has(d)).map((d) => ourName.get(d) ?? d),
    }));
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
  const version = pinnedVersion();
  const dirs = moduleDirs(version);

  const work = mkdtempSync(join(tmpdir(), "etcd-apiv3-check-proto-"));
  let etcd, ours;
  try {
    etcd = flatten(describeEtcd(dirs, work));
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
    console.log(`proto/ differs from etcd ${version} in ${diffs.length} place(s) (etcd has ${summary}; ${secs}s)`);
    process.exit(1);
  }
  console.log(`proto/ matches etcd ${version} (Go modules ${ETCD_MODULES.map((m) => m.module).join(", ")}): ${summary}`);
}

try {
  main();
} catch (err) {
  if (err instanceof OursError) {
    console.error(`check-proto: proto/ does not compile, so it cannot match etcd's: ${err.message}`);
    process.exit(1);
  }
  if (err instanceof ToolingError) {
    console.error(`check-proto: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
