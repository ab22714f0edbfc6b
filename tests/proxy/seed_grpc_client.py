"""A gRPC client made the way a user of seed 000 would make one, run by test_grpc_seed_client.py in
a fresh interpreter: the seed's §5.1 text, compiled with grpc_tools.protoc; where the text names a
message it does not define, the definition is taken from the server's reflection and written out as
proto text. It imports nothing of CIFER's (it checks), and prints what each call answered as JSON.

    python seed_grpc_client.py SEED_5_1_PROTO HOST:PORT API_KEY WORKDIR
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

_TYPES = {getattr(descriptor_pb2.FieldDescriptorProto, name): word for name, word in (
    ("TYPE_DOUBLE", "double"), ("TYPE_FLOAT", "float"), ("TYPE_INT64", "int64"), ("TYPE_UINT64", "uint64"),
    ("TYPE_INT32", "int32"), ("TYPE_BOOL", "bool"), ("TYPE_STRING", "string"), ("TYPE_BYTES", "bytes"),
    ("TYPE_UINT32", "uint32"), ("TYPE_SINT32", "sint32"), ("TYPE_SINT64", "sint64"))}


def seed_text(seed: Path) -> str:
    """Seed 000's §5.1 block, as tests/vectors keeps it verbatim."""
    return seed.read_text()


def _type(field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
    if field.type in _TYPES:
        return _TYPES[field.type]
    name = field.type_name.lstrip(".")
    return name[len(package) + 1:] if name.startswith(package + ".") else name


def render(message: descriptor_pb2.DescriptorProto, package: str) -> str:
    """A message of the server's descriptor as proto3 text (maps, oneofs and optional fields included)."""
    entries = {nested.name: nested for nested in message.nested_type if nested.options.map_entry}
    lines, oneofs = [f"message {message.name} {{"], {}
    for field in message.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneofs.setdefault(field.oneof_index, []).append(field)
            continue
        entry = entries.get(field.type_name.rsplit(".", 1)[-1]) if field.type_name else None
        if entry is not None and field.label == field.LABEL_REPEATED:
            key, value = entry.field
            lines.append(f"  map<{_type(key, package)}, {_type(value, package)}> {field.name} = {field.number};")
            continue
        label = "repeated " if field.label == field.LABEL_REPEATED else "optional " if field.proto3_optional else ""
        lines.append(f"  {label}{_type(field, package)} {field.name} = {field.number};")
    for index, fields in oneofs.items():
        lines.append(f"  oneof {message.oneof_decl[index].name} {{")
        lines += [f"    {_type(field, package)} {field.name} = {field.number};" for field in fields]
        lines.append("  }")
    return "\n".join(lines + ["}"])


def completed(text: str, channel: grpc.Channel) -> str:
    """The seed's text with the messages it names but does not define, from the server's reflection."""
    defined = set(re.findall(r"^\s*(?:message|enum)\s+(\w+)", text, re.M))
    calls = re.findall(r"rpc\s+\w+\((?:stream\s+)?(\w+)\)\s+returns\s+\((?:stream\s+)?(\w+)\)", text)
    named = {name for call in calls for name in call}
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    [answer] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="cifer.v1.CiferService")]))
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in answer.file_descriptor_response.file_descriptor_proto]
    [served] = [f for f in files if any(s.name == "CiferService" for s in f.service)]
    messages = {m.name: m for m in served.message_type}
    missing, added = sorted(named - defined), []
    while missing:  # a missing message may use others the seed does not define either
        name = missing.pop()
        if name in defined:
            continue
        message = messages[name]
        added.append(render(message, served.package))
        defined.add(name)
        for field in message.field:
            local = field.type_name.rsplit(".", 1)[-1]
            if field.type_name.startswith(f".{served.package}.") and local not in defined and local in messages:
                missing.append(local)
    return text + "\n// From the server's reflection:\n" + "\n\n".join(added) + "\n"


def main(seed: str, target: str, api_key: str, workdir: str) -> None:
    out = Path(workdir)
    with grpc.insecure_channel(target) as channel:
        (out / "cifer_seed.proto").write_text(completed(seed_text(Path(seed)), channel))
        include = str(Path(protoc.__file__).parent / "_proto")
        if protoc.main(["protoc", f"-I{out}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}",
                        str(out / "cifer_seed.proto")]) != 0:
            raise SystemExit("protoc failed on the completed seed text")
        sys.path.insert(0, str(out))
        pb, rpc = importlib.import_module("cifer_seed_pb2"), importlib.import_module("cifer_seed_pb2_grpc")
        client = rpc.CiferServiceStub(channel)
        auth = (("authorization", f"Bearer {api_key}"),)
        # Seed §5.2's flow, in Python: create a cifer, then encrypt.
        resp = client.CreateCifer(pb.CreateCiferRequest(name="my-key"), metadata=auth)
        enc = client.Encrypt(pb.EncryptRequest(cifer_id=resp.cifer_id, plaintext=b"Hello, World!"), metadata=auth)
        dec = client.Decrypt(pb.DecryptRequest(ciphertext=enc.ciphertext), metadata=auth)
        key = client.GetPublicKey(pb.GetPublicKeyRequest(cifer_id=resp.cifer_id), metadata=auth)
        rotated = client.RotateKey(pb.RotateKeyRequest(cifer_id=resp.cifer_id, reason="seed client"), metadata=auth)
        revoked = client.RevokeCifer(pb.RevokeCiferRequest(cifer_id=resp.cifer_id, confirm=True), metadata=auth)
    print(json.dumps({
        "cifer_id": resp.cifer_id, "envelope_size": enc.envelope_size, "plaintext": dec.plaintext.decode(),
        "public_key_bytes": len(key.encapsulation_key), "key_version": key.key_version,
        "new_key_version": rotated.new_key_version, "revoked_status": revoked.status,
        "cifer_modules": sorted(m for m in sys.modules if m == "cifer" or m.startswith("cifer.")),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
