"""TenSEAL's serialized objects as the service reads them, checked against TenSEAL itself."""

from __future__ import annotations

import pytest
import tenseal as ts

from cifer.fhe import wire


@pytest.fixture(scope="module")
def context():
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192, coeff_mod_bit_sizes=[60, 40, 60])
    ctx.global_scale = 2**40
    ctx.generate_galois_keys()
    return ctx


def test_a_public_context_is_read_field_by_field(context):
    public = context.copy()
    public.make_context_public()
    doc = wire.parse_context(public.serialize())
    assert not doc.has_secret_key and doc.scale == 2**40 and doc.encryption_type == wire.ASYMMETRIC
    for blob in (doc.encryption_parameters, doc.public_key, doc.relin_keys, doc.galois_keys):
        wire.check_seal_object(blob, "blob")


def test_a_secret_key_is_seen_wherever_tenseal_puts_it(context):
    assert wire.parse_context(context.serialize(save_secret_key=True)).has_secret_key
    assert not wire.parse_context(context.serialize()).has_secret_key  # TenSEAL's default leaves it out


def test_a_vector_written_here_is_read_by_tenseal_and_back(context):
    vector = ts.ckks_vector(context, [1.0, 2.0, 3.0])
    doc = wire.parse_vector(vector.serialize())
    assert doc.sizes == (3,) and doc.scale == 2**40 and len(doc.ciphertexts) == 1
    again = ts.ckks_vector_from(context, wire.encode_vector(2, doc.ciphertexts[0], doc.scale))
    assert [round(v, 4) for v in again.decrypt()] == [1.0, 2.0]


def test_a_context_written_here_is_read_by_tenseal(context):
    doc = wire.parse_context(context.serialize())
    blob = wire.encode_context(encryption_parameters=doc.encryption_parameters, public_key=doc.public_key,
                               relin_keys=doc.relin_keys, galois_keys=doc.galois_keys, scale=2**40)
    loaded = ts.context_from(blob)
    assert loaded.is_public() and loaded.has_galois_keys() and loaded.global_scale == 2**40


@pytest.mark.parametrize("blob", [b"", b"\x0a", b"\x0a\x05ab", b"\x0b", b"\x12\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80",
                                  b"\x08" + b"\xff" * 11])
def test_malformed_bytes_are_a_wire_error(blob):
    with pytest.raises(wire.WireError):
        wire.parse_context(blob)
    with pytest.raises(wire.WireError):
        wire.parse_vector(blob)


def test_a_seal_header_must_match_its_blob():
    with pytest.raises(wire.WireError, match="not a SEAL object"):
        wire.check_seal_object(b"\x00" * 32, "x")
    header = wire.SEAL_HEADER.pack(wire.SEAL_MAGIC, 16, 4, 1, 2, 0, 40)
    with pytest.raises(wire.WireError, match="says 40 bytes"):
        wire.check_seal_object(header + b"\x00" * 8, "x")
