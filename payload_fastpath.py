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
    # True (visit) unless this is a DataConverter that says so: never skip what may matter.
    if not isinstance(data_converter, temporalio.converter.DataConverter):
        return True
    return bool(getattr(data_converter, "_decode_payload_has_effect", True))


def _skipping(
    visit: Callable[..., Awaitable[Any]], no_metrics: Callable[[], Any]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(visit)
    async def visit_if_needed(*args: Any, **kwargs: Any) -> Any:
        # The SDK calls (message, data_converter, ...); by keyword, if a later one does.
        converter = kwargs.get("data_converter", args[1] if len(args) > 1 else None)
        if _has_effect(converter):
            return await visit(*args, **kwargs)
        return no_metrics()  # what the visit returns when it stored or fetched nothing

    visit_if_needed.hookline_skips_idle_visits = True  # type: ignore[attr-defined]
    return visit_if_needed


def skip_idle_payload_visits() -> bool:
    """Installs the skip on the SDK's activation decoder and completion encoder (which its
    workflow worker looks up at each call). Idempotent. Returns False, and leaves the SDK as
    it is, if this SDK lacks what the skip relies on."""
    bridge = temporalio.bridge.worker
    extstore = getattr(temporalio.converter, "_extstore", None)
    no_metrics = getattr(extstore, "StorageOperationMetrics", None)
    visits = [getattr(bridge, name, None) for name in ("decode_activation", "encode_completion")]
    if no_metrics is None or None in visits:
        return False
    for name, visit in zip(("decode_activation", "encode_completion"), visits, strict=True):
        if not getattr(visit, "hookline_skips_idle_visits", False):
            setattr(bridge, name, _skipping(visit, no_metrics))
    return True
