"""The import graph follows DESIGN.md: no context imports one that sits above it.

Layers, lowest first; a module may import its own layer or lower ones only. ``hj212`` imports nothing
from envwatch and does no I/O.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "envwatch"

LAYERS = [
    {"hj212"},
    {"core"},
    {"registry"},
    {"monitoring"},
    {"ingest"},
    {"alarms", "operations", "sampling", "evidence"},
    {"compliance", "reports"},
    {"web"},
    {
        "cli",
        "demo",
        "demo_om",
        "demo_sampling",
        "demo_evidence",
        "demo_compliance",
        "migrations",
        "__init__",
    },  # demo*: the demo world, as the CLI
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}
IO_MODULES = {
    "socket",
    "asyncio",
    "sqlite3",
    "sqlalchemy",
    "os",
    "pathlib",
    "time",
    "threading",
    "subprocess",
}


def context_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_backward_imports() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        here = context_of(path)
        assert here in LEVEL, f"{path}: context {here!r} is not placed in LAYERS"
        for module in imports_of(path):
            parts = module.split(".")
            if parts[0] != "envwatch" or len(parts) < 2:
                continue
            there = parts[1]
            if there in LEVEL and LEVEL[there] > LEVEL[here]:
                problems.append(
                    f"{path.relative_to(SRC)} imports {module} ({here} must not depend on {there})"
                )
    assert not problems, "\n".join(problems)


def test_hj212_is_sans_io() -> None:
    for path in (SRC / "hj212").rglob("*.py"):
        for module in imports_of(path):
            root = module.split(".")[0]
            assert root not in IO_MODULES, f"{path.name} imports {module}: hj212 must stay sans-I/O"
            assert not module.startswith("envwatch.") or module.startswith("envwatch.hj212"), (
                f"{path.name} imports {module}: hj212 imports nothing else from envwatch"
            )


def test_the_checker_sees_a_backward_edge(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from envwatch.web.app import create_app\nimport envwatch.ingest.gateway\n")
    assert imports_of(bad) == {"envwatch.web.app", "envwatch.ingest.gateway"}
