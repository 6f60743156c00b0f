"""The Temporal codec server: lets the Temporal UI and CLI show encrypted history in clear.

Protocol: ``POST /codec/encode`` and ``POST /codec/decode`` with a ``Payloads`` message in
proto-JSON (``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``) and an
``X-Namespace`` header; the answer has the same shape. Bearer-authenticated like the rest of
the API; the UI's CORS preflight (no credentials) is answered by the CORS middleware. The dev
UI cannot send a token: with ``HOOKLINE_CODEC_TRUST_UI_ORIGIN`` (set by ``hookline dev``
only) a call from one of the CORS origins needs none.
Without ``HOOKLINE_ENCRYPTION_KEY`` both pass payloads through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from hookline.api.auth import Principal
from hookline.api.deps import SettingsDep, get_principal
from hookline.api.errors import ApiError
from hookline.api.schemas.common import ERRORS
from hookline.infra.crypto import EncryptionCodec

router = APIRouter(prefix="/codec", tags=["codec"])


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


async def codec_caller(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal | None:
    """A token's principal; None for the dev UI's token-less call from a trusted origin."""
    origin = request.headers.get("origin")
    if settings.codec_trust_ui_origin and not authorization and origin in settings.cors_origin_list:
        return None
    return await get_principal(request, authorization)


CodecCaller = Annotated[Principal | None, Depends(codec_caller)]


def _parse(body: PayloadsJSON) -> Payloads:
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


@router.post(
    "/encode",
    response_model=PayloadsJSON,
    responses=ERRORS,
    summary="Temporal codec server: encrypt payloads",
)
async def encode(
    body: PayloadsJSON,
    caller: CodecCaller,
    settings: SettingsDep,
    x_namespace: Namespace = None,
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _encrypt)


@router.post(
    "/decode",
    response_model=PayloadsJSON,
    responses=ERRORS,
    summary="Temporal codec server: decrypt payloads",
)
async def decode(
    body: PayloadsJSON,
    caller: CodecCaller,
    settings: SettingsDep,
    x_namespace: Namespace = None,
) -> dict[str, Any]:
    return await _through_codec(body, settings.encryption_keys, _decrypt)
