"""One direction of imports (docs/DESIGN.md, import rules), read from every module's source.

Of our own modules (`hookline.*`), each part may import only:

- core/: core/ alone, and no library that does I/O (pure logic: the workflow's imports)
- store/: core/ (the store: engine, tables, transactions, every SQL statement)
- infra/: core/, store/ (process infrastructure: config, Temporal connection, codec, tracing,
  metrics, logs, GC, the sweep loops)
- migrations/: core/, store/, infra/
- delivery/: core/, infra/
- activities/: core/, store/, infra/, delivery/
- api/: core/, store/, infra/, delivery/, workflows/, and of the root modules only worker.py
  and process.py (the embedded worker and the resources it shares with the API)
- workflows/: core/ and activities/, and only inside `workflow.unsafe.imports_passed_through()`
  blocks (strict: an import of ours anywhere else in a workflow module, even of core/, would
  be re-imported by the sandbox for every run, or bring I/O code into it)
- client/: core/ (the publishers' Python client and the receivers' verify helper: never the
  server, so that installing it for a publisher pulls in no API, store or engine code)
- the root modules (worker.py, cli.py, serve.py, devserver.py, process.py): anything of ours

A part always imports itself. Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = (
    "api",
    "workflows",
    "activities",
    "delivery",
    "core",
    "store",
    "infra",
    "migrations",
    "client",
)
ROOT_MODULES = tuple(sorted(path.stem for path in ROOT.glob("*.py")))
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "store": {"core"},
    "infra": {"core", "store"},
    "migrations": {"core", "store", "infra"},
    "delivery": {"core", "infra"},
    "activities": {"core", "store", "infra", "delivery"},
    "api": {"core", "store", "infra", "delivery", "workflows", "worker", "process"},
    "workflows": {"core", "activities"},
    "client": {"core"},
}
PASSED_THROUGH_ONLY = {"workflows"}


@dataclass(frozen=True)
class Import:
    target: str  # the part (or root module) of ours it imports
    line: int
    passed_through: bool  # inside `with workflow.unsafe.imports_passed_through():`


def _is_pass_through(item: ast.withitem) -> bool:
    call = item.context_expr
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "imports_passed_through"
    )


def _part_of(module: str) -> str | None:
    """`hookline.core.models` -> `core`; `hookline.worker` -> `worker`; not ours -> None."""
    names = module.split(".")
    if names[0] != "hookline":
        return None
    return names[1] if len(names) > 1 else ""


def own_imports(source: str, package: str) -> list[Import]:
    """Every import of ours in `source`, a module of `package` (e.g. `hookline.api.routes`),
    relative ones resolved."""
    found: list[Import] = []

    def visit(node: ast.AST, passed_through: bool) -> None:
        if isinstance(node, ast.With) and any(_is_pass_through(i) for i in node.items):
            passed_through = True
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from hookline import worker` imports the module hookline.worker
            modules = [f"{base}.{a.name}" for a in node.names] if base == "hookline" else [base]
        for module in modules:
            part = _part_of(module)
            if part is not None:
                found.append(Import(part, node.lineno, passed_through))
        for child in ast.iter_child_nodes(node):
            visit(child, passed_through)

    visit(ast.parse(source), False)
    return found


def violations(part: str, source: str, package: str) -> list[str]:
    if part not in ALLOWED:  # a root module: anything of ours
        return []
    wrong = []
    for imp in own_imports(source, package):
        if imp.target == part:
            continue
        if imp.target not in ALLOWED[part]:
            wrong.append(f"line {imp.line}: {part}/ must not import {imp.target}")
        elif part in PASSED_THROUGH_ONLY and not imp.passed_through:
            wrong.append(
                f"line {imp.line}: {imp.target} outside workflow.unsafe.imports_passed_through()"
            )
    return wrong


def modules() -> list[Path]:
    found = [path for part in PARTS for path in sorted((ROOT / part).rglob("*.py"))]
    return found + [ROOT / f"{name}.py" for name in ROOT_MODULES]


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_go_one_way(path: Path):
    relative = path.relative_to(ROOT)
    part = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    package = ".".join(["hookline", *relative.parts[:-1]])
    assert violations(part, path.read_text(), package) == []


def test_every_part_is_checked():
    checked = {p.relative_to(ROOT).parts[0] for p in modules()}
    assert set(PARTS) <= checked
    assert {"worker.py", "cli.py", "devserver.py"} <= checked
    # A new top-level folder of the package needs a rule here.
    folders = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "docs"}
    assert folders <= set(PARTS), folders - set(PARTS)


@pytest.mark.parametrize(
    ("part", "source", "expected"),
    [
        ("core", "from hookline.api.errors import ApiError", ["core/ must not import api"]),
        ("core", "def f():\n    import hookline.activities.deps", ["must not import activities"]),
        ("api", "from hookline.activities.deps import Deps", ["api/ must not import activities"]),
        ("api", "from hookline import cli", ["api/ must not import cli"]),
        ("api", "from hookline import worker", []),
        ("api", "from ..workflows.event import EventWorkflow", []),
        ("activities", "from .. import api", ["activities/ must not import api"]),
        ("activities", "from hookline.delivery import transport", []),
        ("delivery", "from hookline.activities import delivery", ["must not import activities"]),
        ("workflows", "from hookline.core import models", ["outside workflow.unsafe"]),
        (
            "workflows",
            "with workflow.unsafe.imports_passed_through():\n"
            "    from hookline.activities.delivery import DeliveryActivities",
            [],
        ),
        (
            "workflows",
            "with workflow.unsafe.imports_passed_through():\n    from hookline.api import publish",
            ["workflows/ must not import api"],
        ),
        ("worker", "from hookline.api.main import create_app", []),
        ("client", "from hookline.core import signing", []),
        ("client", "from hookline.api.schemas.events import EventOut", ["must not import api"]),
        ("client", "def f():\n    from hookline.store import engine", ["must not import store"]),
        ("core", "import temporalio.client\nfrom pydantic import BaseModel", []),
    ],
)
def test_the_rules_catch_what_they_forbid(part: str, source: str, expected: list[str]):
    package = "hookline" if part == "worker" else f"hookline.{part}"
    found = violations(part, source, package)
    assert len(found) == len(expected), found
    for message, fragment in zip(found, expected, strict=True):
        assert fragment in message


# core/ is pure: the workflow imports it, so it may not reach a library that does I/O.
IO_LIBRARIES = (
    "aiohttp",
    "asyncio",
    "fastapi",
    "httpx",
    "opentelemetry",
    "os",
    "pathlib",
    "prometheus_client",
    "socket",
    "sqlalchemy",
    "subprocess",
    "temporalio.client",
    "temporalio.runtime",
    "temporalio.service",
    "temporalio.worker",
)


def library_imports(source: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.module, node.lineno))
    return found


def io_imports(source: str) -> list[str]:
    return [
        f"line {line}: {name}"
        for name, line in library_imports(source)
        if any(name == lib or name.startswith(f"{lib}.") for lib in IO_LIBRARIES)
    ]


@pytest.mark.parametrize("path", sorted((ROOT / "core").glob("*.py")), ids=lambda path: path.name)
def test_core_does_no_io(path: Path):
    assert io_imports(path.read_text()) == []


def test_the_io_check_catches_what_it_forbids():
    assert io_imports("import socket\nfrom sqlalchemy import select") == [
        "line 1: socket",
        "line 2: sqlalchemy",
    ]
    assert io_imports("from temporalio.common import RetryPolicy\nimport re2") == []


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    return ".".join(["hookline", *parts])


def import_graph() -> dict[str, set[str]]:
    return graph_of(
        {module_name(path): (path.name == "__init__.py", path.read_text()) for path in modules()}
    )


def graph_of(sources: dict[str, tuple[bool, str]]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (function-level imports too), from each
    module's (is a package, source); `from hookline.x import y` counts as importing
    `hookline.x.y` when that is a module, and importing a module imports its packages (their
    `__init__` runs first), except the importer's own packages: Python imports those before
    the importer, so a module's import of a sibling (`hookline.client.errors`) waits for no
    `__init__`, while an import of a name from its package (`from hookline.client import X`)
    still does, and counts."""
    graph: dict[str, set[str]] = {}
    for name, (is_package, source) in sources.items():
        package = name if is_package else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in sources else base)
        own = name.split(".")
        own_packages = {".".join(own[:n]) for n in range(2, len(own))}
        with_packages = set(targets)
        for target in targets:
            parts = target.split(".")
            with_packages |= {".".join(parts[:n]) for n in range(2, len(parts))} - own_packages
        graph[name] = {t for t in with_packages if t in sources and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_circle_check_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_package_that_re_exports_its_modules_is_no_circle():
    """A package `__init__` re-exporting its modules, which import one another: no circle.
    One of them importing a name from the package itself (its `__init__`, maybe half run) is."""
    facade = "from hookline.pkg.a import A\nfrom hookline.pkg.b import B\n"
    sources = {
        "hookline.pkg": (True, facade),
        "hookline.pkg.a": (False, "from hookline.pkg.b import B\nfrom hookline.core import ids"),
        "hookline.pkg.b": (False, "from . import c\n"),
        "hookline.pkg.c": (False, ""),
        "hookline.core": (True, ""),
        "hookline.core.ids": (False, ""),
    }
    graph = graph_of(sources)
    assert graph["hookline.pkg.a"] == {"hookline.pkg.b", "hookline.core", "hookline.core.ids"}
    assert cycles(graph) == []
    sources["hookline.pkg.c"] = (False, "from hookline.pkg import A\n")
    assert cycles(graph_of(sources)) == [
        ["hookline.pkg", "hookline.pkg.a", "hookline.pkg.b", "hookline.pkg.c"]
    ]


def test_the_sandbox_checks_the_workflow_modules():
    """Only core/ and the activity classes pass through the worker's sandbox: a pass-through
    entry covering workflows/ would exempt the workflow code from every sandbox check."""
    from hookline.worker import PASSTHROUGH

    ours = [name for name in PASSTHROUGH if name.split(".")[0] == "hookline"]
    assert ours == ["hookline.core", "hookline.activities"]
    assert not any("hookline.workflows.event".startswith(name) for name in PASSTHROUGH)
