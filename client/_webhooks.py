"""The client's operations on webhooks: list, read, create, change, delete, rotate the secret,
send a test, try a filter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hookline.client._http import (
    UNSET,
    _adapter,
    _Call,
    _Client,
    _given,
    _operation,
    _parse,
    _segment,
)
from hookline.client.models import (
    FilterTestResult,
    Page,
    RotatedSecret,
    WebhookEndpoint,
    WebhookTestResult,
)


class _WebhookOperations(_Client):
    """The tenant's webhooks."""

    # ----------------------------------------------------------------------- webhooks

    @_operation
    def list_webhooks(
        self,
        *,
        status: str | None = None,
        event: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> _Call[Page[WebhookEndpoint]]:
        """The tenant's webhooks; ``metadata`` keeps those with every one of these pairs."""
        params: list[tuple[str, Any]] = [
            ("status", status),
            ("event", event),
            ("page", page),
            ("limit", limit),
        ]
        params += [(f"metadata[{key}]", value) for key, value in (metadata or {}).items()]
        response = yield from self._request("GET", "/webhooks", params=params)
        return _parse(response, _adapter(Page[WebhookEndpoint]), key=None)

    @_operation
    def get_webhook(self, webhook_id: str) -> _Call[WebhookEndpoint]:
        path = f"/webhooks/{_segment(webhook_id)}"
        return (yield from self._get(path, _adapter(WebhookEndpoint)))

    @_operation
    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        filter: Mapping[str, Any] | None = None,
        retry_policy: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
        max_in_flight: int | None = None,
        rate_limit: int | None = None,
        ordering: str | None = None,
    ) -> _Call[WebhookEndpoint]:
        """A new webhook; its ``secret`` is whole in this answer only. Not retried after the
        request may have reached the API (a retry could create a second webhook).
        ``max_in_flight`` and ``rate_limit`` (deliveries per second) bound its deliveries;
        ``ordering="fifo"`` delivers its events one at a time, in publish order."""
        body = {
            "url": url,
            "events": list(events),
            "description": description,
            "filter": filter,
            "retry_policy": retry_policy,
            "headers": headers,
            "metadata": metadata,
            "max_in_flight": max_in_flight,
            "rate_limit": rate_limit,
            "ordering": ordering,
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = yield from self._request("POST", "/webhooks", json=body)
        return _parse(response, _adapter(WebhookEndpoint))

    @_operation
    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str = UNSET,
        events: list[str] = UNSET,
        status: str = UNSET,
        description: str | None = UNSET,
        filter: Mapping[str, Any] | None = UNSET,
        retry_policy: Mapping[str, Any] | None = UNSET,
        headers: Mapping[str, str] | None = UNSET,
        metadata: Mapping[str, str] | None = UNSET,
        max_in_flight: int | None = UNSET,
        rate_limit: int | None = UNSET,
        ordering: str = UNSET,
    ) -> _Call[WebhookEndpoint]:
        """Change only the fields given; ``None`` clears description, filter, retry_policy,
        headers, metadata, max_in_flight (the server's default) and rate_limit (none).
        ``headers`` and ``metadata`` replace the whole map (a header value given as the mask
        ``••••••••`` keeps the value it has)."""
        body = _given(
            url=url,
            events=events,
            status=status,
            description=description,
            filter=filter,
            retry_policy=retry_policy,
            headers=headers,
            metadata=metadata,
            max_in_flight=max_in_flight,
            rate_limit=rate_limit,
            ordering=ordering,
        )
        response = yield from self._request("PUT", f"/webhooks/{_segment(webhook_id)}", json=body)
        return _parse(response, _adapter(WebhookEndpoint))

    @_operation
    def delete_webhook(self, webhook_id: str) -> _Call[None]:
        yield from self._request("DELETE", f"/webhooks/{_segment(webhook_id)}")

    @_operation
    def rotate_secret(
        self, webhook_id: str, *, grace_period: int | None = None
    ) -> _Call[RotatedSecret]:
        """A new signing secret (whole in this answer only); the old one keeps signing beside
        it for ``grace_period`` seconds (default: the server's, 24 h)."""
        body = {"grace_period": grace_period} if grace_period is not None else None
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/rotate-secret", json=body
        )
        return _parse(response, _adapter(RotatedSecret))

    @_operation
    def test_webhook(
        self,
        webhook_id: str,
        event: str = "webhook.test",
        data: Mapping[str, Any] | None = None,
    ) -> _Call[WebhookTestResult]:
        """Sign and send a sample event now; a failed send is ``success=False``."""
        body: dict[str, Any] = {"event": event}
        if data is not None:
            body["data"] = dict(data)
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/test", json=body
        )
        return _parse(response, _adapter(WebhookTestResult), key=None)

    @_operation
    def filter_test(
        self,
        webhook_id: str,
        type: str,
        data: Mapping[str, Any] | None = None,
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> _Call[FilterTestResult]:
        """Would this webhook receive such an event (with its filter, or ``filter``)?"""
        body: dict[str, Any] = {"event": {"type": type, "data": dict(data or {})}}
        if filter is not None:
            body["filter"] = dict(filter)
        response = yield from self._request(
            "POST", f"/webhooks/{_segment(webhook_id)}/filter-test", json=body, replayable=True
        )
        return _parse(response, _adapter(FilterTestResult))
