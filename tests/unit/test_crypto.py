"""Secrets at rest and the Temporal payload codec: roundtrips, rotation, tampering."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest
import temporalio.converter
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter

from hookline.infra.crypto import (
    EncryptionCodec,
    SecretBox,
    data_converter,
    generate_key,
    parse_keys,
)

OLD = generate_key()
NEW = generate_key()


def kid(key: str) -> str:
    return hashlib.sha256(base64.b64decode(key)).hexdigest()[:8]


# --------------------------------------------------------------------------- keys


def test_generate_key_is_base64_of_32_random_bytes() -> None:
    key = generate_key()
    assert len(base64.b64decode(key, validate=True)) == 32
    assert generate_key() != key


def test_parse_keys_ids_and_order() -> None:
    parsed = parse_keys([NEW, f"  {OLD} ", ""])
    assert parsed == [(kid(NEW), base64.b64decode(NEW)), (kid(OLD), base64.b64decode(OLD))]
    assert all(len(k) == 8 and int(k, 16) >= 0 for k, _ in parsed)
    assert parse_keys([]) == []
    assert parse_keys([NEW, NEW]) == parse_keys([NEW])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not base64!", "encryption key #2 is not valid base64"),
        (base64.b64encode(b"x" * 16).decode(), "encryption key #2 decodes to 16 bytes"),
        (base64.b64encode(b"x" * 33).decode(), "must be 32"),
    ],
)
def test_parse_keys_rejects_bad_keys_without_echoing_them(bad: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_keys([NEW, bad])
    assert message in str(info.value)
    assert bad not in str(info.value)
    assert NEW not in str(info.value)


# --------------------------------------------------------------------------- SecretBox


def test_seal_and_open_roundtrip() -> None:
    box = SecretBox([NEW])
    sealed = box.seal("whsec_c2VjcmV0 é")
    prefix, version, key, blob = sealed.split(":")
    assert (prefix, version, key) == ("enc", "v1", kid(NEW))
    assert len(base64.b64decode(blob)) == 12 + len("whsec_c2VjcmV0 é".encode()) + 16
    assert "whsec" not in sealed
    assert box.open(sealed) == "whsec_c2VjcmV0 é"
    assert box.enabled


def test_seal_uses_a_fresh_nonce_each_time() -> None:
    box = SecretBox([NEW])
    assert box.seal("same") != box.seal("same")


def test_rotation_old_values_open_with_new_key_first() -> None:
    sealed_old = SecretBox([OLD]).seal("whsec_old")
    rotated = SecretBox([NEW, OLD])
    assert rotated.open(sealed_old) == "whsec_old"
    sealed_new = rotated.seal("whsec_new")
    assert sealed_new.split(":")[2] == kid(NEW)  # the first key encrypts
    assert SecretBox([NEW]).open(sealed_new) == "whsec_new"
    with pytest.raises(ValueError, match=f"encrypted with key {kid(NEW)}, which is not"):
        SecretBox([OLD]).open(sealed_new)


def test_unknown_key_id_and_no_keys() -> None:
    sealed = SecretBox([OLD]).seal("x")
    with pytest.raises(ValueError, match="not in HOOKLINE_ENCRYPTION_KEY"):
        SecretBox([NEW]).open(sealed)
    with pytest.raises(ValueError, match="HOOKLINE_ENCRYPTION_KEY is not set"):
        SecretBox([]).open(sealed)


def test_tampering_is_detected() -> None:
    box = SecretBox([NEW])
    sealed = box.seal("whsec_secret")
    head, blob = sealed.rsplit(":", 1)
    raw = bytearray(base64.b64decode(blob))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        altered = bytearray(raw)
        altered[index] ^= 0x01
        with pytest.raises(ValueError, match="data altered"):
            box.open(f"{head}:{base64.b64encode(bytes(altered)).decode()}")


def test_key_id_swap_is_detected() -> None:
    # Relabelling a value with another configured key's id does not decrypt it.
    box = SecretBox([NEW, OLD])
    sealed = box.seal("whsec_secret")
    relabelled = sealed.replace(kid(NEW), kid(OLD))
    with pytest.raises(ValueError, match="data altered"):
        box.open(relabelled)


@pytest.mark.parametrize(
    "stored",
    ["enc:v2:abcd1234:AAAA", "enc:v1:abcd1234", "enc:v1:abcd1234:***", "enc:v1:abcd1234:AAAA"],
)
def test_malformed_sealed_values(stored: str) -> None:
    with pytest.raises(ValueError):
        SecretBox([NEW]).open(stored)


def test_plaintext_passthrough_without_keys_and_for_legacy_values() -> None:
    plain = SecretBox([])
    assert not plain.enabled
    assert plain.seal("whsec_abc") == "whsec_abc"
    assert plain.open("whsec_abc") == "whsec_abc"
    # A value stored before a key was configured still opens once one is.
    assert SecretBox([NEW]).open("whsec_abc") == "whsec_abc"


async def test_secret_sealed_value_is_not_a_codec_payload() -> None:
    # Associated data differs per use: a sealed secret cannot be replayed as a payload.
    sealed = SecretBox([NEW]).seal("whsec_x")
    blob = base64.b64decode(sealed.rsplit(":", 1)[1])
    payload = Payload(
        metadata={"encoding": b"binary/encrypted", "encryption-key-id": kid(NEW).encode()},
        data=blob,
    )
    with pytest.raises(ValueError, match="data altered"):
        await EncryptionCodec([NEW]).decode([payload])


# --------------------------------------------------------------------------- codec


def payloads() -> list[Payload]:
    converter = temporalio.converter.default().payload_converter
    return [
        *converter.to_payloads(["evt_1", {"email": "a@example.com"}, 42, None]),
        Payload(metadata={"encoding": b"binary/plain", "x": b"y"}, data=b"\x00\xff raw"),
    ]


async def test_codec_roundtrip_of_real_payloads() -> None:
    codec = EncryptionCodec([NEW])
    original = payloads()
    encoded = await codec.encode(original)

    assert len(encoded) == len(original)
    for payload, source in zip(encoded, original, strict=True):
        assert payload.metadata["encoding"] == b"binary/encrypted"
        assert payload.metadata["encryption-key-id"] == kid(NEW).encode()
        assert set(payload.metadata) == {"encoding", "encryption-key-id"}
        assert source.metadata["encoding"] not in payload.data  # the whole payload is sealed
        assert b"a@example.com" not in payload.data
    assert await codec.decode(encoded) == original


async def test_codec_rotation() -> None:
    encoded_old = await EncryptionCodec([OLD]).encode(payloads())
    rotated = EncryptionCodec([NEW, OLD])
    assert await rotated.decode(encoded_old) == payloads()
    encoded_new = await rotated.encode(payloads())
    assert {p.metadata["encryption-key-id"] for p in encoded_new} == {kid(NEW).encode()}
    with pytest.raises(ValueError, match="not in HOOKLINE_ENCRYPTION_KEY"):
        await EncryptionCodec([OLD]).decode(encoded_new)


async def test_codec_passes_through_unencrypted_payloads() -> None:
    codec = EncryptionCodec([NEW])
    plain = payloads()
    mixed = [plain[0], *(await codec.encode(plain[1:2]))]
    assert await codec.decode(mixed) == plain[:2]


async def test_codec_detects_tampering() -> None:
    codec = EncryptionCodec([NEW])
    [payload] = await codec.encode(payloads()[:1])
    data = bytearray(payload.data)
    data[-1] ^= 0x01
    payload.data = bytes(data)
    with pytest.raises(ValueError, match="data altered"):
        await codec.decode([payload])


def test_codec_needs_a_key() -> None:
    with pytest.raises(ValueError):
        EncryptionCodec([])


# --------------------------------------------------------------------------- data converter


class Input(BaseModel):
    event_id: str
    count: int


async def test_data_converter_without_keys_converts_pydantic_models_in_clear() -> None:
    converter = data_converter([])
    assert converter.payload_codec is None
    assert data_converter(["", " "]).payload_codec is None
    assert issubclass(converter.payload_converter_class, PydanticPayloadConverter)

    value = Input(event_id="evt_1", count=3)
    encoded = await converter.encode([value])
    assert encoded[0].metadata["encoding"] == b"json/plain"
    assert await converter.decode(encoded, [Input]) == [value]


async def test_data_converter_with_keys_encrypts_pydantic_models() -> None:
    converter = data_converter([NEW, OLD])
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert isinstance(
        converter.failure_converter,
        temporalio.converter.DefaultFailureConverterWithEncodedAttributes,
    )
    assert issubclass(converter.payload_converter_class, PydanticPayloadConverter)

    value = Input(event_id="evt_secret_id", count=3)
    encoded = await converter.encode([value])
    assert encoded[0].metadata["encoding"] == b"binary/encrypted"
    assert b"evt_secret_id" not in encoded[0].SerializeToString()
    assert await converter.decode(encoded, [Input]) == [value]

    # The converter without keys untouched (replace made a copy).
    assert data_converter([]).payload_codec is None
    assert dataclasses.is_dataclass(converter)


def test_data_converter_rejects_bad_keys() -> None:
    with pytest.raises(ValueError, match="encryption key #1"):
        data_converter(["nope"])
