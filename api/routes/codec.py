"""The Temporal codec server: lets the Temporal UI and CLI show encrypted history in clear.

Protocol: ``POST /codec/encode`` and ``POST /codec/decode`` with a ``Payloads`` message in
proto-JSON (``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``) and an
``X-Namespace`` header; the answer has the same shape. The UI's CORS preflight (no
credentials) is answered by the CORS middleware.

Who may decode what: a token with ``codec:decode`` gets in clear only the payloads that name
its own tenant (the workflow and activity inputs carry ``tenant_id``); every other payload
(another tenant's, or one naming no tenant, such as a result) comes back as it was sent,
still encrypted. ``codec:encode`` encrypts. The dev UI, which has no token, is given
``/codec/ui/<secret>`` by ``hookline dev`` (``HOOKLINE_CODEC_UI_SECRET``, random per run):
it decodes everything, as the UI shows every workflow; with no secret set that path is a 404.
Without ``HOOKLINE_ENCRYPTION_KEY`` both pass payloads through unchanged.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import from_json
from temporalio.api.common.v1 import Payload, Payloads

from hookline.api.auth import Principal
from hookline.api.deps import SettingsDep, scope
from hookline.api.errors import ApiError
from hookline.api.json_body import LimitedJsonRoute
from hookline.api.schemas.common import ERRORS
from hookline.infra.crypto import EncryptionCodec

router = APIRouter(prefix="/codec", tags=["codec"], route_class=LimitedJsonRoute)
# The dev UI's endpoint: the secret in the path is its credential (not in the schema).
ui_router = APIRouter(
    prefix="/codec/ui/{secret}", include_in_schema=False, route_class=LimitedJsonRoute
)
JSON_ENCODINGS = (b"json/plain",)


class PayloadJSON(BaseModel):
    model_config = ConfigDict(extra="allow")

    metadata: dict[str, str] = Field(
        default_factory=dict, description="Metadata values, each base64-encoded."
    )
    data: str = Field("", description="The payload bytes, base64-encoded.")


class PayloadsJSON(BaseModel):
    """`temporal.api.common.v1.Payloads` in proto-JSON."""

    payloads: list[PayloadJSON] = Field(default_factory=list)


Namespace = Annotated[str | None, Header(alias="X-Namespace", max_length=1000)]
CodecDecode = Annotated[Principal, Depends(scope("codec:decode"))]
CodecEncode = Annotated[Principal, Depends(scope("codec:encode"))]


async def dev_ui(secret: str, settings: SettingsDep) -> None:
    """The path's secret is `hookline dev`'s; anything else (or none configured) is a 404."""
    expected = settings.codec_ui_secret
    if expected is None or not hmac.compare_digest(
        secret.encode(), expected.get_secret_value().encode()
    ):
        raise ApiError(404, "Not Found")


DevUi = Depends(dev_ui)


def tenant_of(payload: Payload) -> str | None:
    """The `tenant_id` a decoded JSON payload names at its top level, if any."""
    if payload.metadata.get("encoding") not in JSON_ENCODINGS:
        return None
    try:
        value = from_json(payload.data)
    except ValueError:
        return None
    named = value.get("tenant_id") if isinstance(value, dict) else None
    return named if isinstance(named, str) else None


def _check_base64(value: str) -> None:
    """Proto-JSON's bytes: base64, standard or URL-safe, padded or not. protobuf's parser
    skips characters outside the alphabet (`!!!` reads as no bytes), so they are refused here."""
    text = value.replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:  # binascii.Error, or text outside ASCII
        raise ApiError(400, f"not a valid Payloads message: {value[:40]!r} is not base64") from exc


def _parse(body: PayloadsJSON) -> Payloads:
    for payload in body.payloads:
        for value in (payload.data, *payload.metadata.values()):
            _check_base64(value)
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except Exception as exc:  # ParseError, bad base64 ...: the client sent something odd
        raise ApiError(400, f"not a valid Payloads message: {exc}") from exc


def _dump(payloads: Payloads) -> dict[str, Any]:
    out = json_format.MessageToDict(payloads)
    out.setdefault("payloads", [])
    return out


async def _encrypt(codec: EncryptionCodec, payloads: list[Payload]) -> list[Payload]:
    return await codec.encode(payloads)


async def _decrypt(codec: EncryptionCodec, payloads: list[Payload]) -> list[Payload]:
    try:
        return await codec.decode(payloads)
    except Exception as exc:  # unknown key, altered data, not a Payload inside
        raise ApiError(400, f"cannot decode payloads: {exc}") from exc


async def _through_codec(
    body: PayloadsJSON,
    keys: list[str],
    step: Callable[[EncryptionCodec, list[Payload]], Awaitable[list[Payload]]],
) -> dict[str, Any]:
    """Parse, run one codec step (none without a key: pass through), answer in proto-JSON."""
    payloads = _parse(body)
    if not keys:
        return _dump(payloads)
    return _dump(Payloads(payloads=await step(EncryptionCodec(keys), list(payloads.payloads))))


def _readable(payload: Payload, tenant_id: str) -> bool:
    """It names the tenant, or holds nothing (`binary/null`)."""
    if payload.metadata.get("encoding") == b"binary/null" and not payload.data:
        return True
    return tenant_of(payload) == tenant_id


def _only_tenant(
    tenant_id: str,
) -> Callable[[EncryptionCodec, list[Payload]], Awaitable[list[Payload]]]:
    """Decrypts, then keeps in clear only the payloads naming `tenant_id`."""

    async def step(codec: EncryptionCodec, payloads: list[Payload]) -> list[Payload]:
        decoded = await _decrypt(codec, payloads)
        return [
            clear if _readable(clear, tenant_id) else sealed
            for sealed, clear in zip(payloads, decoded, strict=True)
        ]

    return step


@router.post(
    "/encode",
    response_model=PayloadsJSON,
    responses=ERRORS,
    summary="Temporal codec server: encrypt payloads (scope codec:encode)",
)
async def encode(
    body: PayloadsJSON,
    caller: CodecEncode,
    settings: SettingsDep,
    x_namespace: Namespace = None,
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _encrypt)


@router.post(
    "/decode",
    response_model=PayloadsJSON,
    responses=ERRORS,
    summary="Temporal codec server: decrypt the payloads of the token's tenant "
    "(scope codec:decode)",
    description="Payloads that do not name the token's tenant (another tenant's, results) "
    "come back as they were sent, still encrypted.",
)
async def decode(
    body: PayloadsJSON,
    caller: CodecDecode,
    settings: SettingsDep,
    x_namespace: Namespace = None,
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _only_tenant(caller.tenant_id))


@ui_router.post("/encode", dependencies=[DevUi])
async def dev_ui_encode(
    body: PayloadsJSON, settings: SettingsDep, x_namespace: Namespace = None
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _encrypt)


@ui_router.post("/decode", dependencies=[DevUi])
async def dev_ui_decode(
    body: PayloadsJSON, settings: SettingsDep, x_namespace: Namespace = None
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _decrypt)
