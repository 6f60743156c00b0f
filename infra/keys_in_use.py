"""Which encryption keys the data still needs: sealed secrets in the store, open workflows.

A key dropped from HOOKLINE_ENCRYPTION_KEY too early makes that data unreadable: a worker
would fail forever decoding an event's input. So start-up (API and worker) and redelivery
look first, cheaply, and refuse with one line naming the key id (never the key).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from hookline.infra.config import Settings
from hookline.infra.crypto import (
    SEALED_PREFIX,
    EncryptionCodec,
    configured_key_ids,
    missing_key_message,
    payload_key_id,
    sealed_key_id,
)
from hookline.store.engine import create_engine, session_maker
from hookline.store.tables import Webhook

WORKFLOW_TYPE = "EventWorkflow"
# `enc:v1:` + an 8-character key id + `:`: enough of a sealed value to name its key.
_SEALED_HEAD = 16


async def store_key_ids(session: AsyncSession) -> set[str]:
    """Key ids of the webhook secrets sealed in the store (one DISTINCT query per column)."""
    found: set[str] = set()
    now = datetime.now(UTC)
    columns = (
        (Webhook.secret, Webhook.secret.like(f"{SEALED_PREFIX}%")),
        (
            Webhook.previous_secret,
            Webhook.previous_secret.like(f"{SEALED_PREFIX}%")
            & or_(
                Webhook.previous_secret_expires_at.is_(None),
                Webhook.previous_secret_expires_at > now,
            ),
        ),
    )
    for column, sealed in columns:
        heads = await session.scalars(
            select(func.substr(column, 1, _SEALED_HEAD)).where(sealed).distinct()
        )
        found.update(kid for head in heads if (kid := sealed_key_id(head)))
    return found


async def workflow_key_ids(client: Client, workflow_id: str, run_id: str | None = None) -> set[str]:
    """Key ids of a workflow's input (its first history event; one small history page)."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(page_size=1):
        started = event.workflow_execution_started_event_attributes
        return {kid for p in started.input.payloads if (kid := payload_key_id(p))}
    return set()


def client_key_ids(client: Client) -> set[str]:
    """The key ids a client's data converter can decrypt (none without a codec)."""
    codec = client.data_converter.payload_codec
    return codec.key_ids if isinstance(codec, EncryptionCodec) else set()


async def missing_workflow_keys(client: Client, workflow_id: str) -> set[str]:
    """Key ids an open workflow's input needs that this client cannot decrypt: a signal to it
    would be accepted, then its worker would fail forever replaying the history."""
    return await workflow_key_ids(client, workflow_id) - client_key_ids(client)


async def open_workflow_key_ids(
    client: Client, window: timedelta, samples: int = 8, now: datetime | None = None
) -> set[str]:
    """Key ids of a sample of open event workflows, spread over the retention window.

    Keys rotate over time, so the newest open workflow started before each of `samples + 1`
    points in the window is checked: one indexed visibility query and one history page each,
    whatever the number of open workflows.
    """
    now = now or datetime.now(UTC)
    seen: set[tuple[str, str | None]] = set()
    found: set[str] = set()
    for step in range(samples + 1):
        before = now - window * step / samples
        query = (
            f'WorkflowType="{WORKFLOW_TYPE}" AND ExecutionStatus="Running" '
            f'AND StartTime <= "{before.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"'
        )
        async for execution in client.list_workflows(query, limit=1, page_size=1):
            key = (execution.id, execution.run_id)
            if key not in seen:
                seen.add(key)
                found |= await workflow_key_ids(client, execution.id, execution.run_id)
    return found


async def missing_keys_problem(
    keys: list[str],
    *,
    session: AsyncSession | None = None,
    client: Client | None = None,
    window: timedelta = timedelta(days=7),
) -> str | None:
    """None when every key the store and open workflows need is configured; else one line."""
    configured = configured_key_ids(keys)
    if session is not None:
        missing = await store_key_ids(session) - configured
        if missing:
            return missing_key_message("webhook secrets in the store are", missing, configured)
    if client is not None:
        missing = await open_workflow_key_ids(client, window) - configured
        if missing:
            return missing_key_message("open event workflows are", missing, configured)
    return None


async def store_keys_problem(settings: Settings) -> str | None:
    """`missing_keys_problem` for the store named by the settings; None if it cannot be read
    (not migrated yet, or down: it holds no sealed secret to check then)."""
    engine = create_engine(settings.resolved_database_url)
    try:
        async with session_maker(engine)() as session:
            return await missing_keys_problem(settings.encryption_keys, session=session)
    except (DBAPIError, OSError):
        return None
    finally:
        await engine.dispose()
