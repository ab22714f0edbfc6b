"""proto/cifer/v1/cifer.proto against seed 000 §5.1: the generated package is not stale; every
message and enum the seed's text defines has, in `cifer.v1.cifer_pb2`, the seed's fields (numbers,
names, types, labels, maps, oneofs); the service is the seed's; and bytes made by classes generated
from the seed's own text parse with ours to the same values, and back.

The seed's text is read from the seed file at test time and compiled with grpc_tools.protoc. It
names eleven messages it does not define, so it is completed with empty stubs of those first: the
stubs stand only where the seed says nothing, and nothing of theirs is compared."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

from cifer.v1 import cifer_pb2

ROOT = Path(__file__).resolve().parents[2]
SEED_COPY = ROOT / "tests" / "vectors" / "seed-000-section-5.1.proto"  # seed 000's §5.1 block, verbatim
SEED_FILE_NAME = "seed/cifer.proto"  # the seed's text compiled under a name of its own
# What the seed's service names but its text does not define (the .proto's header says how
# CIFER defines each).
UNDEFINED_BY_SEED = {
    "GetCiferRequest", "ListCifersRequest", "ListCifersResponse", "RotateKeyRequest", "RotateKeyResponse",
    "RevokeCiferRequest", "RevokeCiferResponse", "DecryptStreamRequest", "DecryptStreamResponse",
    "GetPublicKeyRequest", "GetPublicKeyResponse",
}


def seed_section_5_1() -> str:
    """The ```protobuf block after "### 5.1 Service Definition" in seed 000, as the seed spells it: kept
    in the repository, byte for byte (tests/vectors/seed-000-section-5.1.proto), since CI's checkout
    has no seeds beside it."""
    return SEED_COPY.read_text()


SEED_TEXT = seed_section_5_1()
SEED_MESSAGES = re.findall(r"^message (\w+) \{", SEED_TEXT, re.MULTILINE)
SEED_ENUMS = re.findall(r"^enum (\w+) \{", SEED_TEXT, re.MULTILINE)
SEED_RPC_TYPES = {name for pair in re.findall(r"rpc \w+\((?:stream )?(\w+)\) returns \((?:stream )?(\w+)\)", SEED_TEXT)
                  for name in pair}


def protoc(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Compiles `text` as SEED_FILE_NAME into tmp_path/set.binpb (with its imports); `python -m
    grpc_tools.protoc` adds the well-known types' include path itself."""
    source = tmp_path / SEED_FILE_NAME
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", "--include_imports",
         f"--descriptor_set_out={tmp_path / 'set.binpb'}", str(source)],
        capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> descriptor_pb2.FileDescriptorSet:
    """The seed's text, completed with `message X {}` for what it leaves undefined, compiled."""
    tmp_path = tmp_path_factory.mktemp("seed")
    stubs = "".join(f"message {name} {{}}\n" for name in sorted(UNDEFINED_BY_SEED))
    done = protoc(tmp_path, SEED_TEXT + stubs)
    assert done.returncode == 0, done.stderr
    return descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "set.binpb").read_bytes())


@pytest.fixture(scope="module")
def seed_proto(seed_file) -> descriptor_pb2.FileDescriptorProto:
    [file] = [file for file in seed_file.file if file.name == SEED_FILE_NAME]
    return file


@pytest.fixture(scope="module")
def ours() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto()
    cifer_pb2.DESCRIPTOR.CopyToProto(file)
    return file


@pytest.fixture(scope="module")
def seed_classes(seed_file):
    """Message classes generated from the seed's text, in a pool of their own (not the default
    pool, which holds ours under the same full names)."""
    pool = descriptor_pool.DescriptorPool()
    for file in seed_file.file:  # --include_imports lists dependencies first
        pool.Add(file)
    return lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"cifer.v1.{name}"))


def shape(message: descriptor_pb2.DescriptorProto) -> dict[str, str]:
    """Each field as `number label type`, with maps spelled map<k, v> and oneofs named."""
    entries = {nested.name: nested for nested in message.nested_type if nested.options.map_entry}
    type_names = {value: name[len("TYPE_"):].lower()
                  for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()}

    def type_of(field: descriptor_pb2.FieldDescriptorProto) -> str:
        return field.type_name.rsplit(".", 1)[-1] if field.type_name else type_names[field.type]

    fields = {}
    for field in message.field:
        entry = entries.get(field.type_name.rsplit(".", 1)[-1])
        if entry is not None and field.label == field.LABEL_REPEATED:
            key, value = entry.field
            spelled = f"map<{type_of(key)}, {type_of(value)}>"
        else:
            label = {field.LABEL_REPEATED: "repeated ", field.LABEL_OPTIONAL: ""}[field.label]
            spelled = label + type_of(field)
        if field.HasField("oneof_index") and not field.proto3_optional:
            spelled += f" in oneof {message.oneof_decl[field.oneof_index].name}"
        if field.proto3_optional:
            spelled = "optional " + spelled
        fields[field.name] = f"{field.number} {spelled}"
    return fields


def by_name(items):
    return {item.name: item for item in items}


def test_generated_code_is_not_stale():
    done = subprocess.run([str(ROOT / "scripts" / "gen-proto"), "--check"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert (done.returncode, done.stderr) == (0, "")


def test_the_seeds_text_leaves_exactly_eleven_rpc_types_undefined(tmp_path):
    assert SEED_RPC_TYPES - set(SEED_MESSAGES) == UNDEFINED_BY_SEED
    done = protoc(tmp_path, SEED_TEXT)
    assert done.returncode != 0
    assert set(re.findall(r'"(\w+)" is not defined', done.stderr)) == UNDEFINED_BY_SEED


def test_the_file_is_the_seeds_package_and_syntax(seed_proto, ours):
    assert (ours.package, ours.syntax, list(ours.dependency)) == (
        seed_proto.package, seed_proto.syntax, list(seed_proto.dependency)) == (
        "cifer.v1", "proto3", ["google/protobuf/timestamp.proto"])


@pytest.mark.parametrize("name", SEED_MESSAGES)
def test_a_message_the_seed_defines_has_the_seeds_fields(name, seed_proto, ours):
    seed_message = by_name(seed_proto.message_type)[name]
    our_message = by_name(ours.message_type)[name]
    assert shape(our_message) == shape(seed_message)
    # Beyond the readable shape: the same descriptor, bar json_name (which protoc fills in and
    # CopyToProto may leave out).
    for message in (seed_message, our_message):
        for field in message.field:
            field.ClearField("json_name")
        for nested in message.nested_type:
            for field in nested.field:
                field.ClearField("json_name")
    assert our_message == seed_message


@pytest.mark.parametrize("name", SEED_ENUMS)
def test_an_enum_the_seed_defines_has_the_seeds_values(name, seed_proto, ours):
    values = [[(value.name, value.number) for value in by_name(file.enum_type)[name].value]
              for file in (seed_proto, ours)]
    assert values[0] == values[1]


def test_the_service_is_the_seeds(seed_proto, ours):
    def methods(file):
        [service] = file.service
        return service.name, [(method.name, method.input_type, method.output_type,
                               method.client_streaming, method.server_streaming) for method in service.method]

    assert methods(ours) == methods(seed_proto)
    name, rpcs = methods(ours)
    assert name == "CiferService" and len(rpcs) == 10
    assert [rpc[0] for rpc in rpcs if rpc[3] and rpc[4]] == ["EncryptStream", "DecryptStream"]
    assert not [rpc for rpc in rpcs if rpc[3] != rpc[4]]


def test_every_message_the_seed_names_is_defined_by_us(ours):
    assert UNDEFINED_BY_SEED | set(SEED_MESSAGES) <= set(by_name(ours.message_type))


# Values for each field the seed defines, so that every field crosses the wire.
WIRE_CASES = {
    "CreateCiferRequest": {
        "name": "payments", "description": "card numbers", "metadata": {"team": "billing", "tier": "1"},
        "policy": {"auto_rotate_days": 90, "allowed_operations": ["encrypt", "decrypt"]}},
    "EncryptRequest": {"cifer_id": "cif_abc123def456", "plaintext": b"\x00hello\xff" * 3,
                       "metadata": {"content-type": "text/plain"}},
    "EncryptStreamRequest": {"init": {"cifer_id": "cif_abc123def456", "total_size": 2**31 + 5,
                                      "metadata": {"name": "big.bin"}}},
}


def build(cls, values):
    message = cls()
    json_format.ParseDict({key: _json(value) for key, value in values.items()}, message)
    return message


def _json(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("name", sorted(WIRE_CASES))
def test_bytes_from_the_seeds_classes_parse_with_ours(name, seed_classes):
    sent = build(seed_classes(name), WIRE_CASES[name])
    received = getattr(cifer_pb2, name).FromString(sent.SerializeToString())
    assert received == build(getattr(cifer_pb2, name), WIRE_CASES[name])
    assert json_format.MessageToDict(received) == json_format.MessageToDict(sent)
    assert len(UnknownFieldSet(received)) == 0


@pytest.mark.parametrize("name", sorted(WIRE_CASES))
def test_bytes_from_our_classes_parse_with_the_seeds(name, seed_classes):
    sent = build(getattr(cifer_pb2, name), WIRE_CASES[name])
    received = seed_classes(name).FromString(sent.SerializeToString(deterministic=True))
    assert received.SerializeToString(deterministic=True) == sent.SerializeToString(deterministic=True)
    assert json_format.MessageToDict(received) == json_format.MessageToDict(sent)


def test_our_encrypt_request_reads_the_seeds_bytes_as_the_seed_meant():
    # The seed's field numbers, by hand: a wire change would not slip past both sides at once.
    wire = bytes.fromhex("0a") + bytes([16]) + b"cif_abc123def456" + bytes.fromhex("12") + bytes([2]) + b"hi"
    request = cifer_pb2.EncryptRequest.FromString(wire)
    assert (request.cifer_id, request.plaintext, dict(request.metadata)) == ("cif_abc123def456", b"hi", {})
