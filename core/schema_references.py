"""An event type schema's references, checked at save (core/event_schemas.py): each names a
schema of the same document, and what one value is checked against, references and
allOf/anyOf/oneOf/not/if unfolded, stays bounded (no loop, no chain deeper than
MAX_IN_PLACE_DEPTH, at most MAX_UNFOLDED subschemas)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

# Subschemas one value can be checked against, repeats counted: what references and
# allOf/anyOf/oneOf/not/if/dependentSchemas unfold to. Real schemas stay in the tens; a chain of
# anyOf over two references to the level below doubles at each level.
MAX_UNFOLDED = 1_000
# Schemas applied in place one inside another (a chain of references): each is a few frames of
# the validator's recursion, beside the data's own depth (core/jsonlimits.py).
MAX_IN_PLACE_DEPTH = 64


class SchemaRefused(ValueError):
    """The schema cannot be used: `pointer` is where in the schema, `message` why."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


def pointer(parts: Any) -> str:
    """RFC 6901: "" for the whole document, "/a/0/b~1c" for a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def subschemas(schema: dict[str, Any]) -> Iterator[tuple[tuple, dict]]:
    """Every schema object in `schema`, with its path: keyword values that are data (`const`,
    `enum`, `default`, `examples`...) are not schemas, and are not checked as such."""
    for path, node in _positions(schema, ()):
        if isinstance(node, dict):
            yield path, node


def check_references(schema: dict[str, Any], refs: list[tuple[tuple, str]]) -> None:
    """SchemaRefused unless every reference in `refs` (where, `$ref` value) resolves within
    `schema` and checking one value unfolds to a bounded number of subschemas."""
    anchors = _anchors(schema)
    for where, ref in refs:
        _target(schema, ref, anchors, where)
    _check_unfolding(schema, anchors)


def _anchors(schema: dict[str, Any]) -> dict[str, tuple]:
    """`$anchor` and `$dynamicAnchor` names, with the path of the schema that has each."""
    found: dict[str, tuple] = {}
    for path, node in subschemas(schema):
        for keyword in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(keyword), str):
                found.setdefault(node[keyword], path)
    return found


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def _target(schema: dict[str, Any], ref: str, anchors: dict[str, tuple], where: tuple) -> tuple:
    """The path of the schema a local reference names: a JSON pointer fragment, or an anchor.
    SchemaRefused when it names nothing, or a value that is not a schema."""
    if not ref.startswith("#"):
        raise SchemaRefused(pointer(where), f"only local references (#...) are allowed: {ref}")
    # A URI fragment: percent-encoded (RFC 6901 §6), as the validator reads it.
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        if fragment not in anchors:
            raise SchemaRefused(pointer(where), f"reference {ref} does not resolve")
        return anchors[fragment]
    node: Any = schema
    path: list[str | int] = []
    for part in fragment.split("/")[1:] if fragment else []:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            if isinstance(node, list):
                if not _ARRAY_INDEX.fullmatch(part):  # RFC 6901: no sign, no leading zero
                    raise ValueError(part)
                node, step = node[int(part)], int(part)
            elif isinstance(node, dict):
                node, step = node[part], part
            else:
                raise KeyError(part)
        except (KeyError, IndexError, ValueError):
            raise SchemaRefused(pointer(where), f"reference {ref} does not resolve") from None
        path.append(step)
    if not isinstance(node, dict | bool):
        raise SchemaRefused(pointer(where), f"reference {ref} names a value that is not a schema")
    return tuple(path)


_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE = ("not", "if", "then", "else")
_DESCENDING = (
    "additionalProperties",
    "items",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_DESCENDING_MAPS = ("properties", "patternProperties", "$defs", "definitions")


def _node(schema: dict[str, Any], path: tuple) -> Any:
    node: Any = schema
    for step in path:
        node = node[step]
    return node


def _positions(node: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    """Every place in the schema that holds a schema, with that schema (keyword values that
    are data, such as `const` or `enum`, are not walked)."""
    yield path, node
    if not isinstance(node, dict):
        return
    for keyword in (*_IN_PLACE_LISTS, "prefixItems"):
        if isinstance(node.get(keyword), list):
            for index, child in enumerate(node[keyword]):
                yield from _positions(child, (*path, keyword, index))
    for keyword in (*_IN_PLACE, *_DESCENDING):
        if isinstance(node.get(keyword), dict | bool):
            yield from _positions(node[keyword], (*path, keyword))
    for keyword in (*_DESCENDING_MAPS, "dependentSchemas"):
        if isinstance(node.get(keyword), dict):
            for name, child in node[keyword].items():
                yield from _positions(child, (*path, keyword, name))


def _applied_in_place(
    schema: dict[str, Any], path: tuple, anchors: dict[str, tuple]
) -> list[tuple]:
    """The schemas checked against the same value as the one at `path`."""
    node = _node(schema, path)
    if not isinstance(node, dict):
        return []
    found: list[tuple] = []
    for keyword in _IN_PLACE_LISTS:
        if isinstance(node.get(keyword), list):
            found += [(*path, keyword, index) for index in range(len(node[keyword]))]
    found += [(*path, keyword) for keyword in _IN_PLACE if isinstance(node.get(keyword), dict)]
    if isinstance(node.get("dependentSchemas"), dict):
        found += [(*path, "dependentSchemas", name) for name in node["dependentSchemas"]]
    for keyword in ("$ref", "$dynamicRef"):
        if isinstance(node.get(keyword), str):
            found.append(_target(schema, node[keyword], anchors, (*path, keyword)))
    return found


def _check_unfolding(schema: dict[str, Any], anchors: dict[str, tuple]) -> None:
    """Refuses a schema whose references loop without going into the data (`{"$ref": "#"}`:
    checking any value would never end), or that unfolds to more than MAX_UNFOLDED subschemas
    for one value. Iterative: a chain of references may be longer than Python's stack."""
    unfolded: dict[tuple, int] = {}
    depth: dict[tuple, int] = {}
    for start, _ in _positions(schema, ()):
        if start in unfolded:
            continue
        # Each entry: a schema's path, what it applies in place, and those not visited yet.
        children = _applied_in_place(schema, start, anchors)
        stack = [(start, children, list(children))]
        on_stack = {start}
        while stack:
            path, children, pending = stack[-1]
            if pending:
                child = pending.pop()
                if child in on_stack:
                    raise SchemaRefused(
                        pointer(path), "references loop back here without going into the data"
                    )
                if child not in unfolded:
                    on_stack.add(child)
                    grandchildren = _applied_in_place(schema, child, anchors)
                    stack.append((child, grandchildren, list(grandchildren)))
                continue
            stack.pop()
            on_stack.discard(path)
            total = 1 + sum(unfolded[child] for child in children)
            depth[path] = 1 + max((depth[child] for child in children), default=0)
            if depth[path] > MAX_IN_PLACE_DEPTH:
                raise SchemaRefused(
                    pointer(path),
                    f"a chain of more than {MAX_IN_PLACE_DEPTH} schemas applied one inside "
                    "another (references, allOf/anyOf/oneOf, not, if) starts here",
                )
            if total > MAX_UNFOLDED:
                raise SchemaRefused(
                    pointer(path),
                    f"checking one value here would apply {total} subschemas (at most "
                    f"{MAX_UNFOLDED}): nested anyOf/oneOf/allOf over references multiply",
                )
            unfolded[path] = total
