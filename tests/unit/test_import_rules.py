"""One direction of imports (docs/DESIGN.md, import rules), read from every module's source.

Of our own modules (`hookline.*`), each part may import only:

- core/, migrations/: core/
- delivery/: core/
- activities/: core/, delivery/
- api/: core/, delivery/, workflows/, and of the root modules only worker.py
- workflows/: core/ and activities/, and only inside `workflow.unsafe.imports_passed_through()`
  blocks (strict: an import of ours anywhere else in a workflow module, even of core/, would
  be re-imported by the sandbox for every run, or bring I/O code into it)
- the root modules (worker.py, cli.py, devserver.py): anything of ours

A part always imports itself. Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("api", "workflows", "activities", "delivery", "core", "migrations")
ROOT_MODULES = tuple(sorted(path.stem for path in ROOT.glob("*.py")))
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "migrations": {"core"},
    "delivery": {"core"},
    "activities": {"core", "delivery"},
    "api": {"core", "delivery", "workflows", "worker"},
    "workflows": {"core", "activities"},
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
        ("core", "import temporalio.client\nfrom pydantic import BaseModel", []),
    ],
)
def test_the_rules_catch_what_they_forbid(part: str, source: str, expected: list[str]):
    package = "hookline" if part == "worker" else f"hookline.{part}"
    found = violations(part, source, package)
    assert len(found) == len(expected), found
    for message, fragment in zip(found, expected, strict=True):
        assert fragment in message
