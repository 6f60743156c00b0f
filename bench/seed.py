"""The bench's store before a run: migrated, with a tenant `bench`, its token, and the
webhooks the scenarios deliver to (one on `user.created`, FANOUT on `data.created`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bench.config import FANOUT, HOST


@dataclass(frozen=True)
class Prepared:
    token: str
    tenant_id: str
    hooks: dict[str, list[str]]  # path -> webhook secrets
    webhook_ids: dict[str, list[str]]  # path -> webhook ids


async def prepare_store(url: str, rx_port: int) -> Prepared:
    from hookline.core import ids, signing
    from hookline.store import admin
    from hookline.store.engine import create_engine, session_maker
    from hookline.store.migrate import upgrade
    from hookline.store.tables import Webhook

    await upgrade(url)
    engine = create_engine(url)
    hooks: dict[str, list[str]] = {"/b": [], "/c": []}
    webhook_ids: dict[str, list[str]] = {"/b": [], "/c": []}
    try:
        async with session_maker(engine).begin() as session:
            tenant = await admin.get_or_create_tenant(session, "bench")
            issued = await admin.issue_token(session, tenant, name="bench")
            now = datetime.now(UTC)
            targets = [("/b", "user.created")] + [("/c", "data.created")] * FANOUT
            for i, (path, type_) in enumerate(targets):
                secret = signing.new_secret()
                webhook_id = ids.webhook_id()
                session.add(
                    Webhook(
                        id=webhook_id,
                        tenant_id=tenant.id,
                        url=f"http://{HOST}:{rx_port}{path}/{i}",
                        events=[type_],
                        status="active",
                        secret=secret,
                        created_at=now,
                        updated_at=now,
                    )
                )
                hooks[path].append(secret)
                webhook_ids[path].append(webhook_id)
        return Prepared(issued.value, tenant.id, hooks, webhook_ids)
    finally:
        await engine.dispose()
