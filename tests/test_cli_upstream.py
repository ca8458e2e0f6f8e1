"""``envwatch upstream add|set|pause|resume|list|history|status`` as a user runs them, and the status API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text, update
from typer.testing import CliRunner

from envwatch.cli import app
from envwatch.core.settings import Settings
from envwatch.ingest.upstream.schema import upstream_status
from envwatch.web.app import create_app
from envwatch.web.auth import Principal, authenticate
from tests.ingest.upstream.world import Log, add_device, frame

runner = CliRunner()


def test_upstream_commands_and_api(settings: Settings, sqlite_engine: Engine) -> None:
    _e, dev, mn = add_device(sqlite_engine, 1, "330102")
    log = Log(sqlite_engine)
    log.add(frame(mn, 1), device_id=dev, mn=mn)  # before the upstream exists: not its business
    data = ["--data-dir", str(settings.data_dir)]

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["upstream", *args, *data])
        assert result.exit_code == 0, result.output
        return result.output

    assert "added: province  10.1.2.3:8212  enabled  9014 acks  region 33*" in cli(
        "add", "province", "10.1.2.3:8212", "--region", "33", "--note", "浙江省平台"
    )
    refused = runner.invoke(app, ["upstream", "add", "province", "10.1.2.3:8212", *data])
    assert refused.exit_code == 2 and "exists" in refused.output
    bad = runner.invoke(app, ["upstream", "add", "ministry", "nowhere", *data])
    assert bad.exit_code == 2 and "HOST:PORT" in bad.output
    log.add(frame(mn, 2), device_id=dev, mn=mn)
    log.add(frame(mn, 3), device_id=dev, mn=mn, verdict="duplicate")

    assert "PAUSED" in cli("pause", "province", "--note", "省平台维护")
    assert "PAUSED  no acks" in cli(
        "set", "province", "--address", "10.1.2.4:8212", "--no-acks", "--enterprise", "7"
    )
    assert "region 33* enterprise 7" in cli("resume", "province")
    versions = json.loads(cli("history", "province", "--json"))
    assert [(v["host"], v["enabled"], v["acks"], v["note"]) for v in versions] == [
        ("10.1.2.3", True, True, "浙江省平台"),
        ("10.1.2.3", False, True, "省平台维护"),
        ("10.1.2.4", False, False, ""),
        ("10.1.2.4", True, False, ""),
    ]
    # the history is evidence of where data went: the database refuses to rewrite it
    with pytest.raises(Exception, match="append-only"), sqlite_engine.begin() as conn:
        conn.execute(text("UPDATE upstream_versions SET host = 'x'"))

    listed = json.loads(cli("list", "--json"))
    assert [(u["name"], u["port"], u["region_prefixes"], u["enterprise_ids"]) for u in listed] == [
        ("province", 8212, ["33"], [7])
    ]
    status = json.loads(cli("status", "--json"))[0]
    # registered after packet 1: packet 2 waits (the duplicate never will), nothing is running
    assert (status["cursor"], status["lag_packets"], status["running"]) == (1, 1, False)
    assert "not running: cursor 1, lag 1 packets" in cli("status")

    with sqlite_engine.begin() as conn:
        conn.execute(update(upstream_status).values(last_error="ConnectionRefusedError: refused"))
    api = create_app(settings, sqlite_engine)
    with TestClient(api) as client:
        replies = {}
        for principal in (
            Principal("admin", "admin"),
            Principal("reg", "regulator", region_code="33"),
            Principal("plant", "enterprise", enterprise_id=1),
        ):
            api.dependency_overrides[authenticate] = lambda p=principal: p
            replies[principal.role] = client.get("/api/v1/upstreams")
    api.dependency_overrides.clear()
    assert replies["enterprise"].status_code == 403
    same = [{k: v for k, v in r.items() if k != "lag_seconds"} for r in replies["regulator"].json()]
    assert same == [{k: v for k, v in r.items() if k != "lag_seconds"} for r in replies["admin"].json()]
    (row,) = replies["admin"].json()
    assert (row["name"], row["host"], row["cursor"], row["lag_packets"]) == ("province", "10.1.2.4", 1, 1)
    assert row["last_error"] == "ConnectionRefusedError: refused" and row["connected"] is False
