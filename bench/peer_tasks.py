"""The peer's Celery app: one task per delivery, on Redis (`hookline bench --peer celery`).

    HOOKLINE_PEER_BROKER=redis://127.0.0.1:PORT/0 \
        celery -A bench.peer_tasks worker --pool threads --concurrency 16

Late acknowledgement (a task killed mid-flight is delivered again), one httpx.Client per
worker thread (keep-alive), retries on 5xx, 429 and connection errors (bench/peer_sender.py).
"""

from __future__ import annotations

import os
import threading
import time

import httpx
from celery import Celery

from bench.peer_sender import MAX_RETRIES, retry_countdown, should_retry, signed_headers

QUEUE = "peer"

app = Celery("hookline-peer", broker=os.environ.get("HOOKLINE_PEER_BROKER", "redis://"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

_local = threading.local()


def _client() -> httpx.Client:
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(timeout=15, follow_redirects=False)
    return client


class Retryable(Exception):
    pass


@app.task(bind=True, name="peer.deliver", acks_late=True, max_retries=MAX_RETRIES)
def deliver(
    self, url: str, secret: str, event_id: str, delivery_id: str, event_type: str, body: str
) -> int:
    raw = body.encode()
    headers = signed_headers(
        secret,
        event_id=event_id,
        delivery_id=delivery_id,
        event_type=event_type,
        timestamp=int(time.time()),
        body=raw,
        attempt=self.request.retries + 1,
    )
    try:
        response = _client().post(url, content=raw, headers=headers)
    except httpx.TransportError as exc:
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    if should_retry(response.status_code):
        error = Retryable(f"{url} answered {response.status_code}")
        raise self.retry(exc=error, countdown=retry_countdown(self.request.retries))
    return response.status_code
