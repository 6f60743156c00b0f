"""Custom search attributes: registered by `hookline dev`, tests and docker-compose.

Never secrets or payload data here: search attributes are not encrypted.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
