"""Two costs the Temporal SDK pays on every workflow activation, for nothing in our setup.

1. A new payload converter per activation. The worker builds a DataConverter for each
   activation it decodes and each completion it encodes, and every DataConverter instantiates
   its `payload_converter_class`: for pydantic, a composite of converters with a fresh
   TypeAdapter cache (~2.5% of the API's samples under B). `SharedPayloadConverter` is that
   class, built once: the converter keeps no per-workflow state.
2. Payload visits with nothing to do. Each activation and each completion is walked three
   times (reference payloads, external storage, codec), and every payload list is copied back
   into the protobuf message, even without a codec or external storage (~6% of the API's
   samples). `skip_idle_payload_visits` skips the walk when the data converter has neither,
   by the SDK's own test for it (`DataConverter._decode_payload_has_effect`); with the
   encryption codec on (`HOOKLINE_ENCRYPTION_KEY`) every walk happens as before.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import temporalio.bridge.worker
import temporalio.converter
from temporalio.contrib.pydantic import PydanticPayloadConverter


class SharedPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, one instance per process whatever asks for one."""

    _shared: ClassVar[SharedPayloadConverter | None] = None

    def __new__(cls) -> SharedPayloadConverter:
        if cls._shared is None:
            shared = super().__new__(cls)
            PydanticPayloadConverter.__init__(shared)
            cls._shared = shared
        return cls._shared

    def __init__(self) -> None:  # built once, in __new__; later calls must not reset it
        pass


def _has_effect(data_converter: Any) -> bool:
    # True (visit) if a later SDK no longer has the attribute: never skip what may matter.
    return bool(getattr(data_converter, "_decode_payload_has_effect", True))


def _skipping(visit: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(visit)
    async def visit_if_needed(message: Any, data_converter: Any, *args: Any, **kwargs: Any):
        if _has_effect(data_converter):
            return await visit(message, data_converter, *args, **kwargs)
        # What the visit returns when it stores or retrieves nothing: empty metrics.
        return temporalio.converter._extstore.StorageOperationMetrics()

    visit_if_needed.hookline_skips_idle_visits = True  # type: ignore[attr-defined]
    return visit_if_needed


def skip_idle_payload_visits() -> None:
    """Installs the skip on the SDK's activation decoder and completion encoder (which its
    workflow worker looks up at each call). Idempotent."""
    bridge = temporalio.bridge.worker
    for name in ("decode_activation", "encode_completion"):
        visit = getattr(bridge, name)
        if not getattr(visit, "hookline_skips_idle_visits", False):
            setattr(bridge, name, _skipping(visit))
