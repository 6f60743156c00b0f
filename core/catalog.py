"""The built-in event type catalog: the reference API's types, extended process-wide by the
operator's HOOKLINE_EVENT_TYPES. Each tenant adds its own types beside it (the store's
`event_types`, api/services/event_types.py); `unknown` takes those names as `also`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

# A type name: dot-separated words of letters, digits, `_` and `-` (no wildcard).
NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")  # fullmatch
NAME_MAX = 200


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    category: str
    source: str = "builtin"  # builtin | operator (HOOKLINE_EVENT_TYPES)


def category_of(name: str) -> str:
    return name.split(".", 1)[0]


_BUILTIN: list[tuple[str, str]] = [
    # Seed 002: the Webhooks API reference.
    ("user.created", "A new user has been created"),
    ("user.updated", "A user's information has been updated"),
    ("user.deleted", "A user has been deleted"),
    ("data.created", "A new data resource has been created"),
    ("data.updated", "A data resource has been updated"),
    ("data.deleted", "A data resource has been deleted"),
    ("report.generated", "A report has been generated"),
    ("system.alert", "A system alert has been triggered"),
    # Seed 004: event categories.
    ("user.login", "A user logged in"),
    ("user.logout", "A user logged out"),
    ("user.password_changed", "A user's password was changed"),
    ("user.email_changed", "A user's email address was changed"),
    ("user.profile_updated", "A user's profile was updated"),
    ("mfa.enabled", "Multi-factor authentication was enabled for a user"),
    ("mfa.disabled", "Multi-factor authentication was disabled for a user"),
    ("mfa.passkey_registered", "A passkey was registered"),
    ("mfa.challenge_failed", "A multi-factor challenge failed"),
    ("security.breach_attempt", "A breach attempt was detected"),
    ("security.account_locked", "An account was locked out"),
    ("security.suspicious_login", "A suspicious login was detected"),
    ("security.password_breached", "A password was found in a breach corpus"),
    ("sso.authenticated", "An SSO authentication completed"),
    ("sso.provider_linked", "An SSO provider was linked to a user"),
    ("sso.provider_unlinked", "An SSO provider was unlinked from a user"),
    ("organization.user_added", "A user was added to an organization"),
    ("organization.user_removed", "A user was removed from an organization"),
    ("organization.role_changed", "A user's role in an organization changed"),
    ("session.created", "A session was created"),
    ("session.terminated", "A session was terminated"),
    ("session.limit_reached", "The concurrent session limit was reached"),
    ("oauth.client_registered", "An OAuth client was registered"),
    ("oauth.token_issued", "An OAuth token was issued"),
    ("oauth.token_revoked", "An OAuth token was revoked"),
    # Webhooks v3 entity events.
    ("entity.created", "An entity (user profile) was created"),
    ("entity.updated", "An entity (user profile) was modified"),
    ("entity.deleted", "An entity (user profile) was deleted"),
    # The same three under their Webhooks v3 wire names: types in their own right, delivered
    # with the name they were published as (category `entity`, but `entity.*` does not match
    # them: subscribe to them by name).
    ("entityCreated", "An entity (user profile) was created (the v3 name of entity.created)"),
    ("entityUpdated", "An entity (user profile) was modified (the v3 name of entity.updated)"),
    ("entityDeleted", "An entity (user profile) was deleted (the v3 name of entity.deleted)"),
    # hookline's own.
    ("webhook.test", "A test event sent by POST /api/v1/webhooks/{id}/test"),
]


_CATEGORIES = {"entityCreated": "entity", "entityUpdated": "entity", "entityDeleted": "entity"}


class Catalog:
    """The built-in types and the operator's (`extra`: "name=description,name,...")."""

    def __init__(self, extra: str = "") -> None:
        self._types = {
            name: EventType(name, description, _CATEGORIES.get(name, category_of(name)))
            for name, description in _BUILTIN
        }
        for item in filter(None, (part.strip() for part in extra.split(","))):
            name, _, description = item.partition("=")
            name = name.strip()
            if name not in self._types:
                self._types[name] = EventType(
                    name, description.strip() or name, category_of(name), "operator"
                )

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def all(self) -> list[EventType]:
        return sorted(self._types.values(), key=lambda t: t.name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> EventType | None:
        return self._types.get(name)

    def unknown(self, patterns: list[str], also: Iterable[str] = ()) -> list[str]:
        """Patterns that match no known type (the catalog's, or `also`: a tenant's): exact
        names, `prefix.*` or `*`. A wildcard must match at least one type that exists now."""
        extra = set(also)
        bad = []
        for pattern in patterns:
            if pattern == "*" or pattern in self._types or pattern in extra:
                continue
            if pattern.endswith(".*") and any(
                name.startswith(pattern[:-1]) for name in (*self._types, *extra)
            ):
                continue
            bad.append(pattern)
        return bad


def closest(unknown: list[str], names: list[str], n: int = 3) -> list[str]:
    """The known names closest to each unknown one (for a `prefix.*` pattern, the closest
    prefixes), at most `n` each, in order: what "did you mean" suggests."""
    wildcards = sorted({name.split(".", 1)[0] + ".*" for name in names})
    return list(
        dict.fromkeys(
            match
            for pattern in unknown
            for match in difflib.get_close_matches(
                pattern, wildcards if pattern.endswith(".*") else names, n=n
            )
        )
    )
