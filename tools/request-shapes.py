#!/usr/bin/env python3
"""Writes runtime/broker/src/shape/table.rs: the wire layout of every request the broker decodes.

The layout is read from the decoders that kafka-protocol generates from Kafka's JSON message
specs, so the shape check walks exactly what the decoder will read. Run it again after
upgrading kafka-protocol or adding an API to the broker's SUPPORTED table, then run
`cargo test -p connectd-broker shape`, which encodes a request of every supported version and
checks that the walk ends where the encoding does.

    python3 tools/request-shapes.py > runtime/broker/src/shape/table.rs
    python3 tools/request-shapes.py --samples > runtime/broker/src/shape/samples.rs
    cargo fmt --all

`--samples` writes the tests' requests instead: every struct with one entry in each array
its version has, for kafka-protocol to encode.
"""
import glob
import os
import re
import sys

# The requests the broker serves (handlers::SUPPORTED), by kafka-protocol module.
APIS = [
    ("Produce", "produce_request", "ProduceRequest"),
    ("Fetch", "fetch_request", "FetchRequest"),
    ("ListOffsets", "list_offsets_request", "ListOffsetsRequest"),
    ("Metadata", "metadata_request", "MetadataRequest"),
    ("OffsetCommit", "offset_commit_request", "OffsetCommitRequest"),
    ("OffsetFetch", "offset_fetch_request", "OffsetFetchRequest"),
    ("FindCoordinator", "find_coordinator_request", "FindCoordinatorRequest"),
    ("JoinGroup", "join_group_request", "JoinGroupRequest"),
    ("Heartbeat", "heartbeat_request", "HeartbeatRequest"),
    ("LeaveGroup", "leave_group_request", "LeaveGroupRequest"),
    ("SyncGroup", "sync_group_request", "SyncGroupRequest"),
    ("DescribeGroups", "describe_groups_request", "DescribeGroupsRequest"),
    ("ListGroups", "list_groups_request", "ListGroupsRequest"),
    ("ApiVersions", "api_versions_request", "ApiVersionsRequest"),
    ("CreateTopics", "create_topics_request", "CreateTopicsRequest"),
    ("DeleteTopics", "delete_topics_request", "DeleteTopicsRequest"),
    ("DeleteRecords", "delete_records_request", "DeleteRecordsRequest"),
    ("InitProducerId", "init_producer_id_request", "InitProducerIdRequest"),
    ("DescribeConfigs", "describe_configs_request", "DescribeConfigsRequest"),
    ("AlterConfigs", "alter_configs_request", "AlterConfigsRequest"),
    ("CreatePartitions", "create_partitions_request", "CreatePartitionsRequest"),
    ("DeleteGroups", "delete_groups_request", "DeleteGroupsRequest"),
    ("IncrementalAlterConfigs", "incremental_alter_configs_request", "IncrementalAlterConfigsRequest"),
    ("SaslHandshake", "sasl_handshake_request", "SaslHandshakeRequest"),
    ("SaslAuthenticate", "sasl_authenticate_request", "SaslAuthenticateRequest"),
    ("DescribeUserScramCredentials", "describe_user_scram_credentials_request", "DescribeUserScramCredentialsRequest"),
    ("AlterUserScramCredentials", "alter_user_scram_credentials_request", "AlterUserScramCredentialsRequest"),
    ("DescribeAcls", "describe_acls_request", "DescribeAclsRequest"),
    ("CreateAcls", "create_acls_request", "CreateAclsRequest"),
    ("DeleteAcls", "delete_acls_request", "DeleteAclsRequest"),
]

FIXED = {"Int8": 1, "Boolean": 1, "Int16": 2, "UInt16": 2, "Int32": 4, "UInt32": 4,
         "Int64": 8, "Float64": 8, "Uuid": 16}


def crate_dir():
    home = os.path.expanduser("~/.cargo/registry/src")
    found = sorted(glob.glob(f"{home}/*/kafka-protocol-0.18.*"))
    if not found:
        sys.exit("kafka-protocol 0.18 is not in ~/.cargo/registry; run `cargo fetch` first")
    return found[-1]


def field_types(src):
    types = {}
    for m in re.finditer(r"pub struct (\w+) \{(.*?)\n\}", src, re.S):
        types[m.group(1)] = {f.group(1): f.group(2) for f in re.finditer(r"pub (\w+): ([^\n]+),", m.group(2))}
    return types


def decoders(src):
    pat = (r"impl Decodable for (\w+) \{\n    fn decode<B: ByteBuf>\(buf: &mut B, version: i16\) "
           r"-> Result<Self> \{\n(.*?)\n    \}\n\}")
    return {m.group(1): m.group(2) for m in re.finditer(pat, src, re.S)}


def statements(body):
    """(field, expression) for each `let field = ...;` at the decoder's top level."""
    lines = body.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"        let (\w+) = (.*)$", lines[i])
        # An always-flexible message reads its tagged fields at the top level, not under
        # `if version >= N`: those are not fields of the struct.
        if m and m.group(1) == "num_tagged_fields":
            break
        if m:
            chunk = [m.group(2)]
            if not m.group(2).endswith(";"):
                i += 1
                while not re.match(r"        \S.*;$", lines[i]):
                    chunk.append(lines[i].strip())
                    i += 1
                chunk.append(lines[i].strip())
            out.append((m.group(1), " ".join(chunk)))
        i += 1
    return out


def version_range(cond):
    lo, hi = 0, 32767
    for op, n in re.findall(r"version (>=|<=) (\d+)", cond):
        if op == ">=":
            lo = int(n)
        else:
            hi = int(n)
    return lo, hi


def const_name(struct):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", struct).upper()


def element_struct(rust_type):
    m = re.search(r"Vec<(?:super::)?(\w+)>", rust_type)
    return m.group(1) if m else None


def kind(ty, rust_type):
    base = re.sub(r"^Compact", "", ty)
    if base in FIXED:
        return f"Fixed({FIXED[base]})"
    if base == "String":
        return "Str"
    if base == "Bytes":
        return "Bytes"
    m = re.match(r"(?:Compact)?Array\(types::(\w+)(?: \{ version \})?\)", ty)
    if m:
        inner = m.group(1)
        if inner == "Struct":
            return f"Array(&Struct({const_name(element_struct(rust_type))}))"
        return f"Array(&{kind(inner, '')})"
    if ty == "Struct { version }":
        return f"Struct({const_name(rust_type.split('::')[-1])})"
    raise SystemExit(f"unknown wire type {ty}")


def reachable(src, root_struct):
    """The decoders of `root_struct` and the structs its fields hold, in source order.
    (Structs only reached through tagged fields are skipped by size, so they are left out.)"""
    decs = decoders(src)
    types = field_types(src)
    seen, todo = set(), [root_struct]
    while todo:
        struct = todo.pop()
        if struct in seen:
            continue
        seen.add(struct)
        for name, expr in statements(decs[struct]):
            if "Struct" in expr:
                todo.append(element_struct(types[struct][name]) or types[struct][name].split("::")[-1])
    return [(s, b) for s, b in decs.items() if s in seen]


def snake(struct):
    return const_name(struct).lower()


def samples():
    root = crate_dir()
    print("//! Generated by `tools/request-shapes.py --samples`; do not edit. For the shape tests: each")
    print("//! request with one entry in every array its version has.")
    print()
    print("use bytes::BytesMut;")
    print("use kafka_protocol::messages::ApiKey;")
    print("use kafka_protocol::protocol::Encodable;")
    print()
    print("/// The body of a sample `key` request at `version`, encoded by kafka-protocol.")
    print("pub(crate) fn sample(key: ApiKey, version: i16) -> Vec<u8> {")
    print("    match key {")
    for api, module, root_struct in APIS:
        print(f"        ApiKey::{api} => encode({module}::{snake(root_struct)}(version), version),")
    print('        other => panic!("no sample for {other:?}"),')
    print("    }")
    print("}")
    print()
    print("fn encode(request: impl Encodable, version: i16) -> Vec<u8> {")
    print("    let mut out = BytesMut::new();")
    print("    request")
    print("        .encode(&mut out, version)")
    print('        .unwrap_or_else(|e| panic!("encoding a sample at v{version}: {e}"));')
    print("    out.to_vec()")
    print("}")
    for api, module, root_struct in APIS:
        src = open(f"{root}/src/messages/{module}.rs").read()
        types = field_types(src)
        print()
        print(f"mod {module} {{")
        print(f"    use kafka_protocol::messages::{module}::*;")
        for struct, body in reachable(src, root_struct):
            vis = "pub(super) " if struct == root_struct else ""
            sets = []
            for name, expr in statements(body):
                tys = re.findall(r"types::(\w+(?:\(types::\w+(?: \{ version \})?\))?|Struct \{ version \})\.decode", expr)
                if not tys or "Array" not in tys[0]:
                    continue
                f = flexible_of(body)
                conds = re.findall(r"if (version [^{]+)\{", expr)
                if len(tys) == 2:
                    conds = [c for c in conds if c.strip() != f"version >= {f}"]
                lo, hi = version_range(" ".join(conds))
                rust_type = types[struct][name]
                elem = element_struct(rust_type)
                one = f"{snake(elem)}(v)" if "Struct" in tys[0] else "Default::default()"
                value = f"vec![{one}]"
                if rust_type.startswith("Option<"):
                    value = f"Some({value})"
                if (lo, hi) == (0, 32767):
                    sets.append(f"        s.{name} = {value};")
                else:
                    sets.append(f"        if ({lo}..={hi}).contains(&v) {{\n            s.{name} = {value};\n        }}")
            print()
            if not sets:
                print(f"    {vis}fn {snake(struct)}(_v: i16) -> {struct} {{")
                print(f"        {struct}::default()")
            else:
                uses_v = any("(v)" in line or "&v" in line for line in sets)
                param = "v" if uses_v else "_v"
                print(f"    {vis}fn {snake(struct)}({param}: i16) -> {struct} {{")
                print(f"        let mut s = {struct}::default();")
                print("\n".join(sets))
                print("        s")
            print("    }")
        print("}")


def flexible_of(body):
    """The first version with tagged fields: `if version >= N` around them, or 0 when the
    message is flexible in every version."""
    m = re.search(r"if version >= (\d+) \{\n\s+let num_tagged_fields", body)
    if m:
        return int(m.group(1))
    return 0 if re.search(r"\n        let num_tagged_fields", body) else 32767


def main():
    root = crate_dir()
    print("//! Generated by `tools/request-shapes.py` from kafka-protocol's request decoders; do not edit.")
    print("//! One const per request struct: its fields in wire order, each with the versions it is in.")
    print()
    print("use kafka_protocol::messages::ApiKey;")
    print()
    print("use super::Shape;")
    shapes = []
    for api, module, root_struct in APIS:
        src = open(f"{root}/src/messages/{module}.rs").read()
        types = field_types(src)
        flexible = None
        print()
        print(f"mod {module} {{")
        print("    use crate::shape::Field;")
        print("    use crate::shape::Kind::*;")
        for struct, body in reachable(src, root_struct):
            # Known tagged fields are decoded in place, not skipped by size; the walk skips
            # them by size, which is only the same when none of them holds an array.
            for tagged in re.findall(r"match tag \{(.*?)\n                    _ =>", body, re.S):
                if "Array" in tagged:
                    sys.exit(f"{struct}: a known tagged field holds an array; the walk cannot skip it")
            f = flexible_of(body)
            if struct == root_struct:
                flexible = f
            vis = "pub(crate) " if struct == root_struct else ""
            print()
            print(f"    {vis}const {const_name(struct)}: &[Field] = &[")
            for name, expr in statements(body):
                tys = re.findall(r"types::(\w+(?:\(types::\w+(?: \{ version \})?\))?|Struct \{ version \})\.decode", expr)
                if not tys:
                    continue  # not on the wire (a constant default)
                conds = re.findall(r"if (version [^{]+)\{", expr)
                if len(tys) == 2:
                    conds = [c for c in conds if c.strip() != f"version >= {f}"]
                lo, hi = version_range(" ".join(conds))
                k = kind(tys[0], types[struct][name])
                print(f'        Field::new("{name}", {lo}, {hi}, {k}),')
            print("    ];")
        print("}")
        shapes.append((api, flexible, f"{module}::{const_name(root_struct)}"))
    print()
    print("/// Every request the broker decodes: its API, first flexible version and top-level fields.")
    print("pub(super) const SHAPES: &[Shape] = &[")
    for api, flexible, const in shapes:
        print(f"    Shape::new(ApiKey::{api}, {flexible}, {const}),")
    print("];")


if "--samples" in sys.argv:
    samples()
else:
    main()
