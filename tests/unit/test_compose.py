"""docker-compose.yml and Dockerfile are consistent with the code (nothing is run here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hookline.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

SERVICES = {"postgres", "temporal", "temporal-setup", "temporal-ui", "api", "worker"}
SEARCH_ATTRIBUTES = {
    "HooklineTenant": "Keyword",
    "HooklineEventType": "Keyword",
    "HooklineWebhookIds": "KeywordList",
    "HooklineStatus": "Keyword",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _published(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs of a service's `ports`."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) == 1:
            pairs.add((int(parts[0]), int(parts[0])))
        else:
            pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return "\n".join(command) if isinstance(command, list) else str(command)


def test_services_exist(services: dict[str, Any]) -> None:
    assert SERVICES <= set(services)


def test_worker_is_scalable(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert worker["command"] == ["hookline", "worker"]


def test_published_ports(services: dict[str, Any]) -> None:
    assert (8000, 8000) in _published(services["api"])
    assert (7233, 7233) in _published(services["temporal"])
    assert (8233, 8080) in _published(services["temporal-ui"])


def test_api_command_migrates_and_has_healthcheck(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["command"] == [
        "hookline",
        "api",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--migrate",
    ]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert api["build"] == "."
    assert services["worker"]["build"] == "."


def test_hookline_env_names_are_settings_fields(services: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name in ("api", "worker"):
        env = _env(services[name])
        hookline_vars = [key for key in env if key.startswith("HOOKLINE_")]
        assert hookline_vars, name
        unknown = [k for k in hookline_vars if k.removeprefix("HOOKLINE_").lower() not in fields]
        assert not unknown, f"{name}: not fields of Settings: {unknown}"


def test_api_and_worker_share_the_env_anchor(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    assert re.search(r"^x-hookline-env: &hookline-env$", text, re.MULTILINE)
    assert _env(services["api"]) == _env(services["worker"])
    env = _env(services["api"])
    assert env["HOOKLINE_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["HOOKLINE_TEMPORAL_NAMESPACE"] == "default"
    assert env["HOOKLINE_EVENT_RETENTION"] == "7d"
    assert env["HOOKLINE_ALLOW_PRIVATE_URLS"] == "false"
    # The key is required (compose refuses to start without it); the token is optional.
    assert env["HOOKLINE_ENCRYPTION_KEY"].startswith("${HOOKLINE_ENCRYPTION_KEY:?")
    assert env["HOOKLINE_BOOTSTRAP_TOKEN"] == "${HOOKLINE_BOOTSTRAP_TOKEN:-}"


def test_database_url_points_at_the_postgres_service(services: dict[str, Any]) -> None:
    url = _env(services["api"])["HOOKLINE_DATABASE_URL"]
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg"
    assert parts.hostname == "postgres"
    assert parts.port == 5432
    pg = _env(services["postgres"])
    assert parts.username == pg["POSTGRES_USER"]
    assert parts.password == pg["POSTGRES_PASSWORD"]
    assert parts.path == "/" + pg["POSTGRES_DB"]
    assert str(services["postgres"]["image"]).startswith("postgres:15")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_temporal_is_backed_by_postgres(services: dict[str, Any]) -> None:
    temporal = services["temporal"]
    assert str(temporal["image"]).startswith("temporalio/auto-setup")
    env = _env(temporal)
    assert env["DB"] == "postgres12"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_SEEDS"] == "postgres"
    pg = _env(services["postgres"])
    assert env["POSTGRES_USER"] == pg["POSTGRES_USER"]
    assert env["POSTGRES_PWD"] == pg["POSTGRES_PASSWORD"]
    assert _depends_on(temporal) == {"postgres": "service_healthy"}


def test_temporal_enables_eager_workflow_start(services: dict[str, Any]) -> None:
    """The API's embedded worker only gets eager starts if the server allows them."""
    temporal = services["temporal"]
    config_path = _env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
    source = mounts[f"/etc/temporal/{config_path}"]
    config = yaml.safe_load((ROOT / source).read_text())
    assert config["system.enableEagerWorkflowStart"] == [{"value": True}]


def test_temporal_setup_registers_exactly_the_search_attributes(
    services: dict[str, Any],
) -> None:
    setup = services["temporal-setup"]
    assert str(setup["image"]).startswith("temporalio/admin-tools")
    script = _command_text(setup)
    registered = dict(
        re.findall(
            r"temporal operator search-attribute create --address temporal:7233 .*?"
            r"--name (\S+) --type (\S+)",
            script,
        )
    )
    assert registered == SEARCH_ATTRIBUTES
    assert script.count("search-attribute create") == len(SEARCH_ATTRIBUTES)
    assert "already exists" in script
    assert re.search(r"namespace update .*--retention 168h", script)
    assert "temporal" in _depends_on(setup)


def test_temporal_ui(services: dict[str, Any]) -> None:
    ui = services["temporal-ui"]
    assert str(ui["image"]).startswith("temporalio/ui")
    env = _env(ui)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8000/codec"
    assert env["TEMPORAL_CORS_ORIGINS"] == "http://localhost:8233"


def test_depends_on_chains(services: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        deps = _depends_on(services[name])
        assert {"temporal", "postgres"} <= set(deps), name
        assert deps["postgres"] == "service_healthy", name
        assert deps.get("temporal-setup") == "service_completed_successfully", name
    # Every dependency names a real service.
    for name, service in services.items():
        assert set(_depends_on(service)) <= set(services), name


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_installs_without_dev_extra_and_runs_unprivileged() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (\S+ )*\.(\s|&|$)", runs), runs
    assert "[dev]" not in runs
    assert "dev" not in re.findall(r"\[([^\]]*)\]", runs)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in instructions
    # pyproject's readme must be in the build context or `pip install .` fails.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY").split()
    for needed in ("pyproject.toml", pyproject["project"]["readme"]):
        assert needed in copied, needed
    # Every part of the package must be in the build context: the subpackages pyproject
    # lists (top-level folders) and the modules at the root of the repository.
    folders = {name.split(".")[1] for name in pyproject["tool"]["setuptools"]["packages"][1:]}
    modules = {path.name for path in ROOT.glob("*.py")}
    missing = sorted(part for part in folders | modules if part not in copied)
    assert not missing, missing
