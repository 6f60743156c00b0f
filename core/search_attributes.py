"""Custom search attributes: registered by `hookline dev`, tests and docker-compose.

Never secrets or payload data here: search attributes are not encrypted.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

TENANT = SearchAttributeKey.for_keyword("HooklineTenant")
EVENT_TYPE = SearchAttributeKey.for_keyword("HooklineEventType")
WEBHOOK_IDS = SearchAttributeKey.for_keyword_list("HooklineWebhookIds")
STATUS = SearchAttributeKey.for_keyword("HooklineStatus")

ALL = (TENANT, EVENT_TYPE, WEBHOOK_IDS, STATUS)

# Name -> type as the `temporal server start-dev --search-attribute` flag spells it.
REGISTRATION = {
    TENANT.name: "Keyword",
    EVENT_TYPE.name: "Keyword",
    WEBHOOK_IDS.name: "KeywordList",
    STATUS.name: "Keyword",
}


def at_start(tenant_id: str, event_type: str, status: str) -> TypedSearchAttributes:
    """What an event's workflow is started with: free at start, and searchable at once."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, tenant_id),
            SearchAttributePair(EVENT_TYPE, event_type),
            SearchAttributePair(STATUS, status),
        ]
    )
