"""docker-compose.yml and the Dockerfile hang together with the code (nothing is run here).

Each test checks a meaning, not the YAML's spelling: the hookline settings are real and valid,
every address a service uses names a service that listens there, each service waits for what
it reaches, the ports the browser and the README use are the ones published, and the Temporal
setup registers what the code searches by.
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from hookline.api.main import create_app
from hookline.core import search_attributes as sa
from hookline.infra.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# Facts about the images (their documentation), not about our YAML: the port each listens on
# inside its container unless told otherwise.
IMAGE_PORTS = {"postgres": 5432, "temporalio/auto-setup": 7233, "temporalio/ui": 8080}
# What the README and docs/DESIGN.md promise on the host.
HOST_PORTS = {"api": 8000, "temporal UI": 8233, "temporal gRPC": 7233}
# `${NAME:?message}` must be set by whoever runs compose; `${NAME:-default}` has a default.
_REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")
_ADDRESS = re.compile(r"(?:^|[/@\s=])([A-Za-z][\w.-]*):(\d+)")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _resolved(value: str, required: dict[str, str]) -> str:
    value = _REQUIRED.sub(lambda m: required[m.group(1)], value)
    return _DEFAULTED.sub(lambda m: m.group(2), value)


def _settings(service: dict[str, Any]) -> Settings:
    """The Settings a hookline container gets from its compose environment."""
    key = base64.b64encode(b"k" * 32).decode()
    fields = {
        name.removeprefix("HOOKLINE_").lower(): _resolved(value, {"HOOKLINE_ENCRYPTION_KEY": key})
        for name, value in _env(service).items()
        if name.startswith("HOOKLINE_")
    }
    return Settings(**{name: value for name, value in fields.items() if value != ""})


def _published(service: dict[str, Any]) -> dict[int, int]:
    """Host port -> container port of a service's `ports`."""
    pairs = {}
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs[int(port["published"])] = int(port["target"])
            continue
        parts = str(port).split("/")[0].split(":")
        pairs[int(parts[-2] if len(parts) > 1 else parts[0])] = int(parts[-1])
    return pairs


def _flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def _listens_on(service: dict[str, Any]) -> set[int]:
    """Container ports a service listens on: its image's, the --port of a hookline command,
    and what it declares in ports/expose."""
    image = str(service.get("image", ""))
    ports = {port for prefix, port in IMAGE_PORTS.items() if image.split(":")[0] == prefix}
    command = service.get("command")
    if isinstance(command, list) and command[:1] == ["hookline"] and _flag(command, "--port"):
        ports.add(int(_flag(command, "--port")))
    ports |= set(_published(service).values())
    ports |= {int(str(p).split("/")[0]) for p in service.get("expose") or []}
    return ports


def _command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return "\n".join(command) if isinstance(command, list) else str(command)


def _reached(name: str, services: dict[str, Any]) -> set[tuple[str, int | None]]:
    """(service, port) pairs a service's environment and command address by service name; an
    environment value that is just a service's name (a seed host) has no port."""
    env = _env(services[name])
    text = "\n".join([*env.values(), _command_text(services[name])])
    pairs: set[tuple[str, int | None]] = {
        (host, int(port)) for host, port in _ADDRESS.findall(text) if host in services
    }
    pairs |= {(value, None) for value in env.values() if value in services}
    return {(host, port) for host, port in pairs if host != name}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _hookline_services(services: dict[str, Any]) -> list[str]:
    return [name for name, s in services.items() if _command_text(s).startswith("hookline")]


def test_hookline_env_names_are_settings_fields(services: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    seen = 0
    for name, service in services.items():
        for key in _env(service):
            if key.startswith("HOOKLINE_"):
                seen += 1
                assert key.removeprefix("HOOKLINE_").lower() in fields, f"{name}: {key}"
    assert seen, "no hookline settings in the compose file"


def test_hookline_services_get_valid_settings(services: dict[str, Any]) -> None:
    names = _hookline_services(services)
    assert {"api", "worker"} <= set(names)
    settings = [_settings(services[name]) for name in names]
    # The API and the workers must agree on the store, Temporal, the key and the window.
    agreed = {(s.resolved_database_url, s.temporal_address, s.temporal_namespace) for s in settings}
    assert len(agreed) == 1, agreed
    assert len({(tuple(s.encryption_keys), s.event_retention) for s in settings}) == 1
    assert all(s.encryption_keys for s in settings), "payloads must be encrypted in history"
    assert not any(s.allow_private_urls for s in settings), "SSRF guard off in production"
    # The encryption key has no default: compose refuses to start without one.
    assert _REQUIRED.search(_env(services["api"])["HOOKLINE_ENCRYPTION_KEY"])


def test_every_address_names_a_service_listening_there(services: dict[str, Any]) -> None:
    reached = {name: _reached(name, services) for name in services}
    assert any(reached.values())
    for name, targets in reached.items():
        for host, port in targets:
            assert port is None or port in _listens_on(services[host]), f"{name} -> {host}:{port}"


def test_hookline_reaches_temporal_and_the_store_by_service_name(services: dict[str, Any]):
    for name in _hookline_services(services):
        settings = _settings(services[name])
        host, _, port = settings.temporal_address.rpartition(":")
        assert "temporalio/auto-setup" in services[host]["image"], name
        assert int(port) in _listens_on(services[host])
        url = urlsplit(settings.resolved_database_url)
        assert url.scheme == "postgresql+asyncpg", name
        pg = services[url.hostname]
        assert str(pg["image"]).startswith("postgres:"), name
        assert url.port in _listens_on(pg)
        pg_env = _env(pg)
        assert (url.username, url.password, url.path) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            "/" + pg_env["POSTGRES_DB"],
        )


def test_temporal_keeps_its_history_in_the_postgres_service(services: dict[str, Any]) -> None:
    env = _env(services["temporal"])
    pg = services[env["POSTGRES_SEEDS"]]
    assert str(pg["image"]).startswith("postgres:")
    assert int(env["DB_PORT"]) in _listens_on(pg)
    assert env["DB"].startswith("postgres")
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (
        _env(pg)["POSTGRES_USER"],
        _env(pg)["POSTGRES_PASSWORD"],
    )


def test_depends_on_covers_what_each_service_reaches(services: dict[str, Any]) -> None:
    for name, service in services.items():
        deps = _depends_on(service)
        assert set(deps) <= set(services), name
        needed = {host for host, _ in _reached(name, services)}
        if name in _hookline_services(services):
            settings = _settings(service)
            needed |= {settings.temporal_address.rpartition(":")[0]}
            needed |= {urlsplit(settings.resolved_database_url).hostname}
        assert needed <= set(deps), f"{name} reaches {needed - set(deps)} without waiting"
        for dep, condition in deps.items():
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}'s health"
            if "healthcheck" in services[dep] and condition == "service_started":
                pytest.fail(f"{name} starts before {dep} is healthy")


def _setup_service(services: dict[str, Any]) -> str:
    [name] = [n for n, s in services.items() if "search-attribute create" in _command_text(s)]
    return name


def test_hookline_waits_for_its_search_attributes_and_schema(services: dict[str, Any]) -> None:
    """Workflow tasks fail until the search attributes exist; the store must be migrated."""
    setup = _setup_service(services)
    migrating = [
        n for n in _hookline_services(services) if "--migrate" in _command_text(services[n])
    ]
    assert migrating, "no service migrates the store"
    for name in _hookline_services(services):
        deps = _depends_on(services[name])
        assert deps.get(setup) == "service_completed_successfully", name
        if name not in migrating:
            assert any(deps.get(m) == "service_healthy" for m in migrating), name


def test_temporal_setup_registers_what_the_code_uses(services: dict[str, Any]) -> None:
    script = _command_text(services[_setup_service(services)])
    registered = dict(re.findall(r"search-attribute create .*?--name (\S+) --type (\S+)", script))
    assert registered == sa.REGISTRATION
    settings = _settings(services["api"])
    namespaces = set(re.findall(r"--namespace (\S+)", script))
    assert namespaces == {settings.temporal_namespace}
    assert set(re.findall(r"--address (\S+)", script)) == {settings.temporal_address}
    assert "already exists" in script  # re-runnable
    # The namespace keeps closed runs at least as long as the redelivery window.
    [retention] = re.findall(r"namespace update .*--retention (\d+)h", script)
    assert int(retention) * 3600 >= settings.event_retention.total_seconds()


def test_temporal_enables_eager_workflow_start(services: dict[str, Any]) -> None:
    """The API's embedded worker only gets eager starts if the server allows them."""
    temporal = services["temporal"]
    config_path = _env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in temporal["volumes"]}
    config = yaml.safe_load((ROOT / mounts[f"/etc/temporal/{config_path}"]).read_text())
    assert config["system.enableEagerWorkflowStart"] == [{"value": True}]


def test_ports_the_readme_promises_are_published(services: dict[str, Any]) -> None:
    api = services["api"]
    api_port = int(_flag(api["command"], "--port"))
    assert _published(api).get(HOST_PORTS["api"]) == api_port
    assert _flag(api["command"], "--host") == "0.0.0.0"  # reachable from outside the container
    health = " ".join(api["healthcheck"]["test"])
    assert f"127.0.0.1:{api_port}/healthz" in health
    temporal = services["temporal"]
    assert _published(temporal).get(HOST_PORTS["temporal gRPC"]) in _listens_on(temporal)
    ui = services["temporal-ui"]
    assert _published(ui).get(HOST_PORTS["temporal UI"]) in _listens_on(ui)


def test_the_ui_in_the_browser_reaches_the_codec_and_is_allowed(services: dict[str, Any]):
    """The UI's codec calls come from the user's browser: to the API's published port, from
    the UI's published origin, which the API's CORS list must allow."""
    ui = _env(services["temporal-ui"])
    codec = urlsplit(ui["TEMPORAL_CODEC_ENDPOINT"])
    assert codec.hostname in {"localhost", "127.0.0.1"}
    assert codec.port in _published(services["api"])
    app = create_app(_settings(services["api"]))
    assert f"{codec.path}/decode" in app.openapi()["paths"]
    origin = f"http://localhost:{HOST_PORTS['temporal UI']}"
    assert ui["TEMPORAL_CORS_ORIGINS"] == origin
    assert origin in _settings(services["api"]).cors_origin_list


def test_worker_is_scalable(services: dict[str, Any]) -> None:
    """`--scale worker=N`: no fixed name, no host port to fight over, the same image."""
    worker = services["worker"]
    assert "container_name" not in worker
    assert not worker.get("ports")
    assert worker["command"] == ["hookline", "worker"]
    assert worker["build"] == services["api"]["build"] == "."


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


def test_every_worker_replica_serves_its_metrics(services: dict[str, Any]) -> None:
    """Each scaled worker serves the hookline metrics inside the network, on a port it
    declares and never publishes (replicas would fight over a host port)."""
    from hookline.infra.config import split_address

    worker = services["worker"]
    host, port = split_address(_settings(worker).metrics_address or "")
    assert host == "0.0.0.0"
    assert port in _listens_on(worker)
    assert port not in _published(worker).values()
    assert _settings(services["api"]).metrics_address is None  # the API has /metrics
