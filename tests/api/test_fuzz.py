"""Schemathesis against the live OpenAPI schema of create_app: no 5xx, responses as documented.

Runs the real app (lifespan included) in-process on SQLite through Starlette's TestClient,
authenticated as a tenant with every scope. Temporal is a lazy client pointed at a refused
port, so the routes that need it (publish, redeliver) must answer 503, never 500.

Every operation is fuzzed twice: with valid data (positive) and with data that breaks the
schema (negative: wrong types, out-of-range and malformed values, in bodies, path and query
parameters alike). Either way a 4xx has the one error shape; query parameters are checked to
have been sent.
"""

from __future__ import annotations

import asyncio
import re
import traceback
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import response_schema_conformance
from schemathesis.generation import GenerationMode
from starlette.testclient import TestClient

from hookline.api.main import create_app
from tests.support.receiver import refused_port

MAX_EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 15}
# Starlette's TestClient over httpx and per-request cookies from schemathesis: noise here.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
BASE_URL = "http://testserver"


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


def run_operation(
    client: TestClient,
    operation,
    auth: dict[str, str],
    seen: Counter,
    queries: Counter,
    mode: GenerationMode,
) -> str | None:
    """None when every generated case passes, else a description of the (shrunk) failure."""
    failure: list[str] = []

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def test(case) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
        for name in case.query or {}:
            queries[(operation.method.upper(), operation.path, name)] += 1
        try:
            response = client.request(**kwargs)
        except BaseException:
            failure[:] = [f"{kwargs}\n{traceback.format_exc()}"]
            raise
        seen[(operation.method.upper(), operation.path, response.status_code)] += 1
        try:
            # 503 is the documented answer while Temporal is away; any other 5xx is a bug.
            assert response.status_code < 500 or response.status_code == 503, "server error"
            if response.status_code >= 400 and operation.path != "/healthz":
                body = response.json()
                assert set(body) == {"error"}, "not the error shape"
                assert set(body["error"]) == {"code", "message", "details"}, "not the error shape"
            if mode is GenerationMode.POSITIVE:
                case.validate_response(response, checks=[response_schema_conformance])
        except BaseException as exc:
            failure[:] = [f"{kwargs}\n-> {response.status_code} {response.text[:2000]}\n{exc}"]
            raise

    try:
        test()
    except Unsatisfiable:
        # Nothing of the operation can break its schema (e.g. a free-text path parameter).
        if mode is GenerationMode.NEGATIVE and not failure:
            return None
        raise
    except (Exception, BaseExceptionGroup) as exc:
        if not failure:
            failure.append(f"{type(exc).__name__}: {exc}")
        where = f"{mode.value} {operation.method.upper()} {operation.path}"
        return f"{where}: {failure[-1] if failure else ''}"
    return None


async def test_api_survives_fuzzing(settings, tenant):
    fuzz_settings = settings.model_copy(
        update={"temporal_address": f"127.0.0.1:{await refused_port()}"}
    )
    auth = tenant.headers
    failures: list[str] = []
    seen: Counter = Counter()
    queries: Counter = Counter()
    declared: set[tuple[str, str, str]] = set()
    operations_run: set[tuple[str, str]] = set()

    def fuzz() -> None:
        app = create_app(fuzz_settings)
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            raw = client.get("/openapi.json").json()
            schema = schemathesis.openapi.from_dict(raw)
            operations = [result.ok() for result in schema.get_all_operations()]
            assert len(operations) > 10
            for operation in operations:
                key = (operation.method.upper(), operation.path)
                operations_run.add(key)
                for parameter in operation.query:
                    declared.add((*key, parameter.name))
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    failure = run_operation(client, operation, auth, seen, queries, mode)
                    if failure is not None:
                        failures.append(failure)
            every = {(m.upper(), p) for p, methods in raw["paths"].items() for m in methods}
            assert every == operations_run, every ^ operations_run

    await asyncio.to_thread(fuzz)
    assert not failures, "\n\n".join(failures)
    statuses = {status for (_, _, status) in seen}
    assert {200, 201, 400, 404, 422, 503} <= statuses, seen  # the fuzzing reached real code
    # Temporal is away: publishing answers 503, never 500.
    assert seen[("POST", "/api/v1/events", 503)] > 0, seen
    assert {("GET", "/api/v1/webhooks/{webhook_id}/stats", "window")} <= declared
    assert declared <= set(queries), declared - set(queries)  # every query parameter was sent
    print("\n".join(f"{n:4} {m} {p} -> {s}" for (m, p, s), n in sorted(seen.items())))


# --------------------------------------------------------------------------- the console

# Values the console's parsers have tripped on, mixed into hypothesis' own text.
EXTREMES = [
    "",
    "²³",
    "9" * 30,
    "9" * 5000,
    "99999999999999999999999999.evt_x",
    "²³.evt_x",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-05:00",
    "\x00",
    "[" * 1000,
    '{"n": ' + "9" * 4301 + "}",
    '{"n": NaN}',
    '{"n": 1e999}',
    '{"s": "\\ud800"}',
]
FORM_TEXT = st.one_of(
    st.sampled_from(EXTREMES),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
)
CONSOLE_QUERIES = ("status", "type", "webhook_id", "since", "until", "before", "after")


async def test_console_survives_fuzzing(settings, tenant):
    """Hypothesis over the console's query strings and form fields: never a 5xx (503 while
    Temporal is away is the documented answer), signed in as a tenant with every scope."""
    fuzz_settings = settings.model_copy(
        update={"temporal_address": f"127.0.0.1:{await refused_port()}"}
    )
    failures: list[str] = []

    def fuzz() -> None:
        app = create_app(fuzz_settings)
        with TestClient(app, base_url="http://test", raise_server_exceptions=False) as client:
            link = client.post("/api/v1/console/sessions", headers=tenant.headers).json()
            shown = client.get(link["data"]["url"])
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', shown.text).group(1)
            client.post(link["data"]["url"], data={"csrf": csrf}, follow_redirects=False)
            home = client.get("/console")
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', home.text).group(1)
            created = client.post(
                "/api/v1/webhooks",
                headers=tenant.headers,
                json={"url": "https://example.com/hook", "events": ["user.created"]},
            )
            webhook = f"/console/webhooks/{created.json()['data']['id']}"

            def check(response, what: str) -> None:
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(f"{what} -> {response.status_code}")
                    raise AssertionError(failures[-1])

            @hypothesis.settings(
                max_examples=60,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(
                query=st.dictionaries(st.sampled_from(CONSOLE_QUERIES), FORM_TEXT, max_size=4),
                count=FORM_TEXT,
                fields=st.fixed_dictionaries(
                    {},
                    optional={
                        name: FORM_TEXT
                        for name in ("url", "events", "description", "filter", "type", "data")
                    },
                ),
                status=FORM_TEXT,
            )
            def run(query, count, fields, status) -> None:
                check(client.get("/console/events", params=query), f"GET events {query!r}")
                check(
                    client.get(
                        "/console/events/evt_x", params={"notice": "redelivered", "count": count}
                    ),
                    f"GET event count={count!r}",
                )
                check(client.get(webhook, params={"notice": count}), f"GET webhook {count!r}")
                form = {"csrf": csrf, **fields}
                for path in ("/console/webhooks", f"{webhook}/edit", f"{webhook}/filter-test"):
                    check(client.post(path, data=form), f"POST {path} {fields!r}")
                check(
                    client.post(f"{webhook}/status", data={"csrf": csrf, "status": status}),
                    f"POST status {status!r}",
                )
                check(
                    client.post(
                        "/console/events/evt_x/redeliver",
                        data={"csrf": csrf, "webhook_id": status[:40]},
                    ),
                    f"POST redeliver {status!r}",
                )

            run()

    await asyncio.to_thread(fuzz)
    assert not failures, "\n".join(failures[:5])
