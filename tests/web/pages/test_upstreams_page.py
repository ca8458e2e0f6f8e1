"""The upstream forwarding page (/upstreams) over the real app: what a forwarder really recorded (a
province that refuses connections, a ministry paused with a region filter, one forwarding to a real HJ
212 upstream), in Chinese and English, and who may read it (admin and regulators, as the API)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from envwatch.core.clock import utcnow
from envwatch.core.settings import Settings
from envwatch.ingest.upstream import status
from envwatch.ingest.upstream.config import add_upstream
from envwatch.web.app import create_app
from tests.ingest.upstream.fake_upstream import FakeUpstream
from tests.ingest.upstream.test_forwarder import forwarding, register
from tests.ingest.upstream.world import EPOCH, T0, Log, add_device, fast, frame, until
from tests.web.pages.conftest import _free_port, create_users
from tests.web.pages.test_pages import login


def _row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-name="{name}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_the_page_shows_what_the_forwarders_recorded(sqlite_engine: Engine, settings: Settings) -> None:
    engine = sqlite_engine
    settings = fast(settings, upstream_retries=1).model_copy(update={"cookie_secure": False})
    _e, dev, mn = add_device(engine, 1, "330102")
    Log(engine).add(frame(mn, 1), device_id=dev, mn=mn)
    with engine.begin() as conn:
        refusing = add_upstream(
            conn, name="province", address=f"127.0.0.1:{_free_port()}", by="t", now=T0, since=EPOCH
        ).id
        add_upstream(
            conn, name="ministry", address="10.0.0.9:8212", region_prefixes=["33"], enabled=False,
            by="t", now=T0, since=EPOCH,
        )  # fmt: skip
        create_users(conn, [
            ("admin1", {"role": "admin"}),
            ("reg_hz", {"role": "regulator", "region_code": "3301"}),
            ("ent", {"role": "enterprise", "enterprise_id": _e}),
        ], utcnow())  # fmt: skip

    async def forward() -> None:
        fake = FakeUpstream()
        await fake.start()
        try:
            city = register(engine, fake, name="city-relay")
            async with forwarding(engine, settings, refusing), forwarding(engine, settings, city):
                await until(lambda: fake.received == [frame(mn, 1)], what="the packet forwarded")
                await until(lambda: _of(engine, settings, "province").get("last_error"), what="a refusal")
                await until(lambda: _of(engine, settings, "city-relay").get("acked") == 1, what="its 9014")
                with TestClient(create_app(settings, engine)) as client:
                    login(client, "admin1")
                    page = client.get("/upstreams")
                    assert page.status_code == 200
                    html = page.text
                    assert 'href="/upstreams"' in html  # in the navigation
                    province = _row(html, "province")
                    assert (
                        "连接中断" in province
                        and "Connect call failed" in province
                        and "1 个数据包" in province
                    )
                    ministry = _row(html, "ministry")
                    assert "已暂停" in ministry and "行政区划 33" in ministry and "10.0.0.9:8212" in ministry
                    relay = _row(html, "city-relay")
                    assert "已连接" in relay and "0 个数据包" in relay and "1 / 1 / 0" in relay
                    client.get("/lang/en")
                    assert "connected" in _row(client.get("/upstreams").text, "city-relay")
                    login(client, "reg_hz")
                    assert client.get("/upstreams").status_code == 200
                    login(client, "ent")
                    assert client.get("/upstreams").status_code == 403
        finally:
            await fake.stop()

    asyncio.run(forward())


def _of(engine: Engine, settings: Settings, name: str) -> dict[str, Any]:
    """The status figures of one upstream (``GET /api/v1/upstreams``'s)."""
    with engine.connect() as conn:
        return next(r for r in status.figures(conn, settings, utcnow()) if r["name"] == name)
