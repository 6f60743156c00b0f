"""CPU per publish on the API's publish path (parse, validate, record, start the workflow),
in-process, with no worker polling the task queue (so nothing else runs in the process).

    .venv/bin/python -m bench.publish_path 2000

To compare with another checkout, run it there with that checkout's `hookline` first on
PYTHONPATH (a directory holding a `hookline` link to the checkout), alternating the two.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx


async def main(n: int) -> None:
    import hookline.api.main
    from hookline.api.main import create_app
    from hookline.infra.config import Settings
    from hookline.store.migrate import upgrade
    from tests.conftest import make_tenant
    from tests.support.temporal import start_dev_server

    env = await start_dev_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/h.db"
            await upgrade(url)
            settings = Settings(
                data_dir=Path(tmp),
                database_url=url,
                allow_private_urls=True,
                rate_limit="100000000/minute",
                embedded_worker=False,
                task_queue=f"idle-{uuid.uuid4().hex[:8]}",
            )
            tenant = await make_tenant(settings, "acme")
            app = create_app(settings, temporal=env.client)
            body = {"type": "user.created", "data": {"id": "usr_1", "email": "a@example.com"}}
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    for _ in range(200):  # warm-up
                        await client.post("/api/v1/events", json=body, headers=tenant.headers)
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(n):
                        answer = await client.post(
                            "/api/v1/events", json=body, headers=tenant.headers
                        )
                        assert answer.status_code == 202, answer.text
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        where = Path(hookline.api.main.__file__).parent.parent
        print(
            f"{where}: {n / wall:.0f} publishes/s sequential, "
            f"{cpu / n * 1e6:.0f} us CPU per publish (API process, test client included)"
        )
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
