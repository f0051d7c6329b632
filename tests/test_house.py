"""The package's structure: no import cycles, models as a leaf, scripts that explain
themselves, the Store protocols."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ResponseError

from redis_store import AsyncRedisStore, AsyncStore, RedisStore, Store
from redis_store.scripts import CLUSTER, NAMES, source
from redis_store.store.calls import ScriptCall

PACKAGE = Path(__file__).resolve().parents[1] / "redis_store"
SCRIPTS = PACKAGE / "scripts"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """The package modules a module imports: at load and inside functions alike (an import
    deferred into a function is a dependency all the same), not those under ``if
    TYPE_CHECKING`` (for the type checker only)."""
    tree = ast.parse(path.read_text())
    package = module_name(path)
    base = package if path.name == "__init__.py" else package.rpartition(".")[0]
    checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checking |= {id(n) for child in node.body for n in ast.walk(child)}
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
                mod = f"{parent}.{node.module}" if node.module else parent
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] == "redis_store"}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported(p) & modules.keys() for name, p in modules.items()}


def test_no_import_cycle() -> None:
    graph = import_graph()
    # importing a.b.c also loads a.b and a: a package's __init__ is part of every import
    for name in list(graph):
        parts = name.split(".")
        for target in list(graph[name]):
            t = target.split(".")
            graph[name] |= {".".join(t[:i]) for i in range(2, len(t))} & graph.keys()
        graph[name].discard(name)
        graph[name] -= {".".join(parts[:i]) for i in range(1, len(parts))}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_models_are_a_leaf() -> None:
    graph = import_graph()
    for name, imports in graph.items():
        if name.startswith("redis_store.models"):
            outside = {
                m
                for m in imports
                if not m.startswith("redis_store.models") and m != "redis_store.errors"
            }
            assert not outside, f"{name} imports {outside}"


def test_from_json_goes_through_the_registered_codec() -> None:
    """The models' JSON methods call the codec's named entry points through the slot the
    codec fills (``models.json_codec``): the models never import the codec."""
    text = (PACKAGE / "models" / "entities.py").read_text()
    assert "getattr(" not in text and "redis_store.codec" not in text
    for name in ("index_report", "manifest", "vulnerability", "affected_manifests"):
        assert f"codec().decode_{name}(" in text and f"codec().encode_{name}(" in text


# -- scripts ------------------------------------------------------------------------------
def header_and_body(name: str) -> tuple[list[str], list[str]]:
    lines = (SCRIPTS / f"{name}.lua").read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if not line.startswith("--"))
    return lines[:n], lines[n:]


SLOT = re.compile(r"^-- (KEYS|ARGV)\[(\d+)(?:\.\.(\d*))?\]")


@pytest.mark.parametrize("name", NAMES)
def test_script_header_names_every_slot(name: str) -> None:
    """Every script starts by naming itself, then has one line per KEYS and ARGV slot
    (or slot range); every literal slot the code reads is declared there."""
    header, body = header_and_body(name)
    assert header[0].startswith(f"-- {name}: "), "the first line names the script"
    declared: dict[str, list[tuple[int, float]]] = {"KEYS": [], "ARGV": []}
    for line in header:
        m = SLOT.match(line)
        if m:
            first = int(m.group(2))
            last = float("inf") if m.group(3) == "" else int(m.group(3) or first)
            declared[m.group(1)].append((first, last))
    assert any(line.startswith("-- Returns") for line in header), "the reply is described"
    for kind, spans in declared.items():
        expected = 1  # slots are declared in order, without gaps
        for first, last in spans:
            assert first == expected, f"{kind}[{expected}] is not declared before {kind}[{first}]"
            expected = int(last) + 1 if last != float("inf") else 10**9
    for kind, index in re.findall(r"\b(KEYS|ARGV)\[(\d+)\]", "\n".join(body)):
        n = int(index)
        assert any(a <= n <= b for a, b in declared[kind]), f"{kind}[{n}] is not in the header"


@pytest.mark.parametrize("name", NAMES)
def test_scripts_name_only_scripts_that_exist(name: str) -> None:
    text = (SCRIPTS / f"{name}.lua").read_text()
    for other in re.findall(r"\bcluster/([a-z_]+)", text):
        assert CLUSTER + other in NAMES, f"{name} names cluster/{other}, which does not exist"
    for old in re.findall(r"\bc_[a-z_]+\b", text):
        pytest.fail(f"{name} names {old}, a script name that no longer exists")


def test_every_script_file_is_known() -> None:
    files = {p.relative_to(SCRIPTS).with_suffix("").as_posix() for p in SCRIPTS.rglob("*.lua")}
    assert files - {"lib"} == set(NAMES)


def test_lua_errors_name_the_scripts_own_file_and_line(store: Any) -> None:
    """A run-time error in a script reports the line of its own file, not of the source
    with lib.lua in front."""
    name = "cluster/release_entities"
    lines = (SCRIPTS / f"{name}.lua").read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if "at + 2 * n" in text)
    call = ScriptCall(name, store.keys.entity_keys(), ["not a count"])
    (reply,) = store._send([call])
    assert isinstance(reply, ResponseError)
    assert f"cluster/release_entities.lua:{line}" in str(reply), str(reply)
    assert f":{line + source(name).offset}" not in str(reply)


# -- the Store protocols ------------------------------------------------------------------
def test_store_protocols_list_every_public_method() -> None:
    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    methods = public(Store) & public(AsyncStore)
    assert public(Store) == public(AsyncStore)
    for cls in (RedisStore, AsyncRedisStore):
        assert methods <= public(cls)
    assert {"index_report", "affected_manifests_batch", "manifest_lock", "close"} <= methods


def test_no_deferred_imports() -> None:
    """Imports inside functions hide dependencies (and cycles): the package has none."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "redis_store"
                ):
                    found.append((module_name(path), fn.name, node.module))
                elif isinstance(node, ast.Import) and any(
                    a.name.startswith("redis_store") for a in node.names
                ):
                    found.append((module_name(path), fn.name, node.names[0].name))
    assert found == []
