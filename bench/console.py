"""The console's speed: seeds a tenant (10,000 events by default) into a SQLite store, then
times every console page through the ASGI app (server time, no network), p50/p95/max.

    .venv/bin/python -m bench.console                  # 10,000 events, 5 webhooks, 40 rounds
    .venv/bin/python -m bench.console --events 200 --screenshot docs/console.png

`--screenshot` serves the seeded app on 127.0.0.1 and photographs /console with Debian's
Chromium (Playwright, nothing downloaded). Figures go to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, update

from hookline.api.main import create_app
from hookline.core import ids
from hookline.infra.config import Settings
from hookline.store.admin import get_or_create_tenant, issue_token
from hookline.store.engine import create_engine, session_maker
from hookline.store.migrate import upgrade
from hookline.store.tables import Attempt, Delivery, Event, Webhook

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEBHOOKS = [
    ("https://crm.example.com/hooks/hookline", ["user.*"], "CRM sync"),
    ("https://billing.example.net/webhooks", ["user.created", "user.deleted"], "Billing"),
    ("https://siem.example.org/ingest/hookline", ["security.*", "mfa.*"], "Security SIEM"),
    ("https://analytics.example.com/events", ["*"], "Analytics warehouse"),
    ("https://legacy.example.com/notify", ["user.updated", "data.*"], "Legacy notifier"),
]
TYPES = [
    "user.created",
    "user.updated",
    "user.deleted",
    "security.suspicious_login",
    "mfa.enabled",
    "data.updated",
]
# Per webhook: the chance a delivery fails for good, and how.
FLAKINESS = [0.02, 0.0, 0.05, 0.01, 0.35]


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        allow_private_urls=True,
        rate_limit="1000000/minute",
        embedded_worker=False,  # pages only: no worker, Temporal is not needed
    )


def _attempts(rng: random.Random, fails: bool, start: datetime) -> list[tuple[int | None, str]]:
    """(status code, error) of each attempt of one delivery, last one decisive."""
    if fails:
        kind = rng.random()
        if kind < 0.5:
            return [(503, None)] * rng.randint(2, 6)
        if kind < 0.8:
            return [(None, "connection refused")] * rng.randint(2, 6)
        return [(404, None)] * 2
    if rng.random() < 0.06:
        return [(rng.choice([500, 502, 429]), None), (200, None)]
    return [(200, None)]


def _matches(patterns: list[str], event_type: str) -> bool:
    return any(
        p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
        for p in patterns
    )


async def seed(
    settings: Settings, events: int, hours: float, seed_value: int = 7
) -> tuple[str, list[str]]:
    """A tenant `acme` with the five webhooks (through the API) and `events` events spread over
    the last `hours`, with their deliveries and attempts; returns (token, webhook ids)."""
    rng = random.Random(seed_value)
    url = settings.resolved_database_url
    await upgrade(url)
    engine = create_engine(url)
    async with session_maker(engine).begin() as session:
        tenant = await get_or_create_tenant(session, "acme")
        token = (await issue_token(session, tenant, name="bench")).value
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            hooks = []
            for hook_url, patterns, description in WEBHOOKS:
                answer = await client.post(
                    "/api/v1/webhooks",
                    headers=headers,
                    json={"url": hook_url, "events": patterns, "description": description},
                )
                answer.raise_for_status()
                hooks.append((answer.json()["data"]["id"], patterns))
    now = datetime.now(UTC)
    event_rows, delivery_rows, attempt_rows = [], [], []
    for index in range(events):
        created = now - timedelta(seconds=hours * 3600 * (events - index) / events)
        event_type = rng.choice(TYPES)
        event_id = ids.event_id()
        targets = [(n, wid) for n, (wid, pats) in enumerate(hooks) if _matches(pats, event_type)]
        outcome, stages = (
            "succeeded",
            [
                {"stage": "awaiting-executing", "at": created.isoformat(), "detail": "recorded"},
                {
                    "stage": "executing",
                    "at": created.isoformat(),
                    "detail": f"matched {len(targets)}",
                },
            ],
        )
        succeeded = 0
        for n, webhook_id in targets:
            delivery_id = ids.delivery_id(event_id, webhook_id)
            fails = rng.random() < FLAKINESS[n]
            tries = _attempts(rng, fails, created)
            at = created
            for number, (code, error) in enumerate(tries, start=1):
                at += timedelta(seconds=30 * 5 ** (number - 1) if number > 1 else 0.05)
                decisive = number == len(tries)
                attempt_rows.append(
                    {
                        "id": ids.attempt_id(delivery_id, 0, number),
                        "tenant_id": tenant.id,
                        "delivery_id": delivery_id,
                        "event_id": event_id,
                        "webhook_id": webhook_id,
                        "number": number,
                        "series": 0,
                        "trigger": "scheduled",
                        "url": WEBHOOKS[n][0],
                        "status_code": code,
                        "response_body": '{"ok": true}' if code == 200 else "upstream unavailable",
                        "error": error,
                        "outcome": ("fail" if fails else "success") if decisive else "retry",
                        "duration_ms": rng.randint(40, 400),
                        "started_at": min(at, now),
                    }
                )
            status = "failed" if fails else "succeeded"
            succeeded += not fails
            outcome = "failed" if fails else outcome
            delivery_rows.append(
                {
                    "id": delivery_id,
                    "tenant_id": tenant.id,
                    "event_id": event_id,
                    "webhook_id": webhook_id,
                    "event_type": event_type,
                    "status": status,
                    "attempts": len(tries),
                    "last_status_code": tries[-1][0],
                    "last_error": tries[-1][1],
                    "created_at": created,
                    "updated_at": min(at, now),
                    "delivered_at": None if fails else min(at, now),
                }
            )
        stages.append(
            {"stage": "delivered", "at": created.isoformat(), "detail": f"{succeeded} succeeded"}
        )
        event_rows.append(
            {
                "id": event_id,
                "tenant_id": tenant.id,
                "type": event_type,
                "data": {"id": f"usr_{index}", "email": f"user{index}@example.com"},
                "idempotency_key": None,
                "created": created,
                "status": outcome,
                "stages": stages,
                "expires_at": created + timedelta(days=7),
            }
        )
    async with engine.begin() as connection:
        # The flakiest endpoint has failed every attempt for the last two hours.
        await connection.execute(
            update(Webhook)
            .where(Webhook.id == hooks[-1][0])
            .values(failing_since=now - timedelta(hours=2, minutes=10))
        )
        for table, rows in (
            (Event, event_rows),
            (Delivery, delivery_rows),
            (Attempt, attempt_rows),
        ):
            for start in range(0, len(rows), 2000):
                await connection.execute(insert(table), rows[start : start + 2000])
    await engine.dispose()
    return token, [wid for wid, _ in hooks]


async def _signed_in(client: httpx.AsyncClient, token: str) -> None:
    link = await client.post(
        "/api/v1/console/sessions", headers={"Authorization": f"Bearer {token}"}
    )
    answer = await client.get(link.json()["data"]["url"])
    assert answer.status_code == 303, answer.text


async def measure(settings: Settings, token: str, webhook_ids: list[str], rounds: int) -> dict:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _signed_in(client, token)
            events = (await client.get("/console/events")).text
            event_id = re.search(r'href="/console/events/(evt_\w+)"', events).group(1)
            older = re.search(r'rel="next" href="([^"]+)"', events).group(1)
            failing = webhook_ids[-1]
            pages = {
                "/console (webhooks)": "/console",
                "/console/webhooks/{id}": f"/console/webhooks/{failing}",
                "/console/events": "/console/events",
                "/console/events, page 2": older.replace("&amp;", "&"),
                "/console/events?status=failed": "/console/events?status=failed",
                "/console/events?webhook_id=": f"/console/events?webhook_id={failing}",
                "/console/events?type=&since=": "/console/events?type=user.created&since="
                + (datetime.now(UTC) - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"),
                "/console/events/{id}": f"/console/events/{event_id}",
                "/console/event-types": "/console/event-types",
            }
            timings: dict[str, list[float]] = {name: [] for name in pages}
            cpu: dict[str, list[float]] = {name: [] for name in pages}
            for _ in range(3):  # warm-up: templates compiled, statements cached
                for path in pages.values():
                    (await client.get(path)).raise_for_status()
            for _ in range(rounds):
                for name, path in pages.items():
                    started, cpu_started = time.perf_counter(), time.process_time()
                    answer = await client.get(path)
                    timings[name].append((time.perf_counter() - started) * 1000)
                    # CPU seconds of this process (its threads too): what the page costs,
                    # whatever else the machine is doing meanwhile.
                    cpu[name].append((time.process_time() - cpu_started) * 1000)
                    answer.raise_for_status()
    return {
        name: {
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": _p95(values),
            "max_ms": round(max(values), 1),
            "cpu_p50_ms": round(statistics.median(cpu[name]), 1),
            "cpu_p95_ms": _p95(cpu[name]),
        }
        for name, values in timings.items()
    }


def _p95(values: list[float]) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1)


async def screenshot(settings: Settings, token: str, path: Path) -> None:
    import uvicorn
    from playwright.async_api import async_playwright

    from hookline.devserver import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(600):  # bounded: 30 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            link = await client.post(
                "/api/v1/console/sessions", headers={"Authorization": f"Bearer {token}"}
            )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            await page.goto(link.json()["data"]["url"])
            await page.screenshot(path=str(path), full_page=True)
            # Beside it: the failed events, and the first of them.
            await page.goto(f"http://127.0.0.1:{port}/console/events?status=failed")
            await page.screenshot(path=str(path.with_name(f"{path.stem}-events.png")))
            await page.locator("table.list tbody a").first.click()
            await page.screenshot(
                path=str(path.with_name(f"{path.stem}-event.png")), full_page=True
            )
            await browser.close()
    finally:
        server.should_exit = True
        await serving


async def main_async(args: argparse.Namespace) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="hookline-console-") as tmp:
        settings = _settings(Path(tmp))
        started = time.perf_counter()
        token, webhook_ids = await seed(settings, args.events, args.hours)
        print(f"seeded {args.events} events in {time.perf_counter() - started:.1f} s", flush=True)
        if args.screenshot:
            await screenshot(settings, token, Path(args.screenshot))
            print(f"screenshot: {args.screenshot}")
            return None
        results = await measure(settings, token, webhook_ids, args.rounds)
    width = max(len(name) for name in results)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'page':<{width}}  p50 ms  p95 ms  max ms  cpu p50  cpu p95")
    for name, f in results.items():
        print(
            f"{name:<{width}}  {f['p50_ms']:>6}  {f['p95_ms']:>6}  {f['max_ms']:>6}  "
            f"{f['cpu_p50_ms']:>7}  {f['cpu_p95_ms']:>7}"
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24.0, help="spread of the events")
    parser.add_argument("--rounds", type=int, default=40, help="requests per page")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--screenshot", help="photograph /console to this PNG instead")
    args: Any = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    if results and args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
