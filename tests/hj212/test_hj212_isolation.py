"""hj212 imports nothing from the rest of envwatch and does no I/O (DESIGN: sans-I/O)."""

import ast
from pathlib import Path

import envwatch.hj212

PACKAGE = Path(envwatch.hj212.__file__).parent
ALLOWED_TOP = {"__future__", "collections", "dataclasses", "datetime", "enum", "functools", "importlib", "json", "re",
               "types", "typing", "cryptography", "envwatch"}  # fmt: skip


def _imports() -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path.name, node.module))
    return found


def test_only_stdlib_pure_modules_and_cryptography() -> None:
    for filename, module in _imports():
        assert module.split(".")[0] in ALLOWED_TOP, (filename, module)
        if module.startswith("envwatch"):
            assert module == "envwatch.hj212" or module.startswith("envwatch.hj212."), (filename, module)


def test_no_clock_reads() -> None:
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("datetime.now", ".utcnow", "time.time", "time.monotonic", " open("):
            assert needle not in text, (path.name, needle)


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 420, path.name
