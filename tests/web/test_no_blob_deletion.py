"""No route and no command can delete a stored file (issue 8; WZ-A1-13: kept, never altered or deleted).

Four layers, each able to fail on its own:
1. every route of the real app (nested routers walked): no DELETE route on a path about blobs, attachments,
   evidence, videos or files; every DELETE route that exists is listed in ``DELETE_ROUTES`` with what it
   removes, so a new one cannot slip in unreviewed;
2. every DELETE route is *called* (with a real id where one can be made) after files were stored through
   the API, and every stored file is still there, read-only and hashing right afterwards;
3. every CLI command (the Typer app, sub-apps included) is named, and none is a delete/remove/purge;
4. every call in ``src/envwatch`` that removes or renames a file system entry or an S3 object (``unlink``,
   ``rmtree``, ``rmdir``, ``rename``, ``os.remove``/``os.replace``/…, ``delete_object(s)``) is in a module
   listed in ``FILE_REMOVERS`` with the reason it never touches the blob store. (``Path.replace`` is not
   seen: the name is shared with ``str.replace``; a new module that removes files otherwise fails here.)
The store itself has no deleting method (tests/core/test_blobs.py introspects it).
"""

from __future__ import annotations

import ast
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from envwatch.cli import app as cli_app
from envwatch.core.blob_records import store_recorded
from envwatch.core.blobs import BlobStore
from envwatch.core.db import make_engine
from envwatch.core.evidence_schema import blob_records
from envwatch.core.settings import Settings
from envwatch.migrations import upgrade
from envwatch.web.accounts import store as accounts
from envwatch.web.app import create_app

SRC = Path(__file__).resolve().parents[2] / "src" / "envwatch"
PASSWORD = "a long enough password"
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)

BLOB_WORDS = re.compile(r"blob|attachment|evidence|video|file|photo|upload", re.IGNORECASE)

# Every DELETE route of the app, and what it removes (reviewed: none touches a stored file).
DELETE_ROUTES: dict[str, str] = {
    "/api/v1/users/me/tokens/{token_id}": "revokes one of the caller's API tokens (a row is marked revoked)",
}

# Modules that remove or rename file system entries or S3 objects, and why that is never a stored blob.
FILE_REMOVERS: dict[str, str] = {
    "core/blob_local.py": "its own temporary file in <blobs>/.incoming, and the caller's source name after "
    "put_file(move=True) has linked or copied the content into the store",
    "core/blob_s3.py": "the caller's local source file after put_file(move=True) uploaded and locked it",
    "web/pages/admin_import.py": "the admin import's own upload staging directory (not the blob store)",
    "evidence/uploads.py": "an expired, unfinished resumable-upload session's partial file (not yet a blob)",
    "evidence/videos.py": "the upload session's sidecar file once the video is in the blob store",
    "evidence/keys.py": "a temporary file while writing the signing key",
    "cli/evidence_videos.py": "the CLI's resume-state file, replaced atomically (os.replace)",
    "cli/evidence.py": "`evidence export`'s own partial bundle file when writing it failed",
    "web/pages/evidence_page.py": "the bundle download's own temporary zip, after it was sent or when writing it failed",
    "cli/certification.py": "`compliance pack make`'s own partial zip file when making the pack failed",
}
_REMOVING_ATTRS = {"unlink", "rmtree", "rmdir", "removedirs", "delete_object", "delete_objects", "rename"}
_REMOVING_OS = {"remove", "unlink", "replace", "rename", "rmdir", "removedirs", "rmtree", "move"}


# ---- 1 and 2: routes ----------------------------------------------------------------------------------


def all_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route, walking the routers FastAPI nests (a new FastAPI keeps included
    routers as nodes in ``app.routes``)."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any], prefix: str = "") -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                context = getattr(route, "include_context", None)
                walk(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
                continue
            path = prefix + str(getattr(route, "path", ""))
            found.extend((method, path) for method in sorted(getattr(route, "methods", None) or ()))

    walk(app.routes)
    return sorted(set(found))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Settings, Engine, TestClient]]:
    settings = Settings(data_dir=tmp_path / "var", _env_file=None)
    engine = make_engine(settings)
    upgrade(engine)
    with engine.begin() as conn:
        accounts.create_user(conn, "keeper", PASSWORD, {"role": "admin"}, T0, min_password_length=10)
    with TestClient(create_app(settings, engine), base_url="https://testserver") as client:
        yield settings, engine, client
    engine.dispose()


def test_the_walk_sees_the_whole_app(world: tuple[Settings, Engine, TestClient]) -> None:
    routes = all_routes(world[2].app)
    paths = {path for _method, path in routes}
    # a sample of routers from each area: if the walk missed nested routers these would be absent
    for expected in ("/api/v1/sampling/photos", "/api/v1/filings", "/api/v1/users/me/tokens/{token_id}"):
        assert expected in paths, expected
    assert len(routes) > 200


def test_no_delete_route_touches_stored_files(world: tuple[Settings, Engine, TestClient]) -> None:
    deletes = sorted(path for method, path in all_routes(world[2].app) if method == "DELETE")
    assert not [path for path in deletes if BLOB_WORDS.search(path)], deletes
    assert deletes == sorted(DELETE_ROUTES), "a DELETE route was added or removed: review it, list it here"


def test_stored_files_survive_every_delete_route(world: tuple[Settings, Engine, TestClient]) -> None:
    settings, engine, client = world
    r = client.post("/api/v1/auth/login", json={"username": "keeper", "password": PASSWORD})
    assert r.status_code == 200, r.text
    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}

    # files stored the ordinary ways: a photo through the API, a video and an attachment directly
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    r = client.post("/api/v1/sampling/photos", files={"file": ("seal.png", png, "image/png")}, headers=csrf)
    assert r.status_code == 201, r.text
    photo = r.json()["sha256"]
    store = BlobStore.from_settings(settings)
    with engine.begin() as conn:
        video = store_recorded(
            conn,
            store,
            b"video bytes" * 1000,
            purpose="video",
            media_type="video/mp4",
            stored_by="keeper",
            now=T0,
        ).sha256
    kept = {photo, video}
    with engine.connect() as conn:
        recorded = {row.sha256: row for row in conn.execute(select(blob_records))}
    assert set(recorded) == kept  # the API's upload recorded its file (purpose photo) too
    assert recorded[photo].purpose == "photo" and recorded[photo].stored_by == "keeper"

    # real ids for the DELETE routes' parameters where they can be made
    r = client.post("/api/v1/users/me/tokens", json={"name": "to revoke"}, headers=csrf)
    assert r.status_code == 201, r.text
    ids = {"token_id": str(r.json()["id"])}
    called = []
    for method, path in all_routes(client.app):
        if method != "DELETE":
            continue
        url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m.group(1), "1"), path)
        response = client.request("DELETE", url, headers=csrf)
        assert response.status_code < 500, (url, response.text)
        called.append((url, response.status_code))
    assert called == [(f"/api/v1/users/me/tokens/{ids['token_id']}", 200)]

    for sha in kept:
        stored_file = store.path_of(sha)
        assert stored_file.is_file() and stat.S_IMODE(stored_file.stat().st_mode) == 0o444
        assert store.verify(sha, expected_sm3=recorded[sha].sm3).ok


# ---- 3: commands --------------------------------------------------------------------------------------


def cli_commands() -> list[str]:
    def walk(command: Any, path: list[str]) -> Iterator[str]:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path)

    return sorted(walk(typer.main.get_command(cli_app), []))


def test_no_command_deletes() -> None:
    commands = cli_commands()
    assert {"labels reprint", "evidence videos upload", "users add"} <= set(commands)  # the walk works
    deleting = re.compile(r"\b(delete|remove|rm|purge|erase|drop|prune|wipe|clean|gc|expire)\b")
    assert not [c for c in commands if deleting.search(c.replace("-", " "))], commands


# ---- 4: the code that removes files -------------------------------------------------------------------


def _removals(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, owner = node.func.attr, node.func.value
        by_os = isinstance(owner, ast.Name) and owner.id in {"os", "shutil"} and name in _REMOVING_OS
        if by_os or name in _REMOVING_ATTRS:
            yield node.lineno


def test_every_file_removal_in_the_code_is_reviewed() -> None:
    found: dict[str, list[int]] = {}
    for module in sorted(SRC.rglob("*.py")):
        lines = list(_removals(ast.parse(module.read_text(encoding="utf-8"))))
        if lines:
            found[module.relative_to(SRC).as_posix()] = lines
    assert "core/blob_local.py" in found  # the scan sees the calls it is after
    unreviewed = {module: lines for module, lines in found.items() if module not in FILE_REMOVERS}
    assert not unreviewed, f"code that removes files, not reviewed in FILE_REMOVERS: {unreviewed}"
