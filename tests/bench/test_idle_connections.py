"""bench/idle_connections.py works end to end on a few hundred connections (its figures come from runs of
the bench itself, docs/operations/capacity.md): every connection opens, every heartbeat is answered, the
live device is answered while they are held."""

from __future__ import annotations

from pathlib import Path

from bench.idle_connections import heartbeat, run

from envwatch.hj212 import decode_frame


def test_a_heartbeat_is_a_valid_frame() -> None:
    packet = decode_frame(heartbeat("BE0000000000000000000001", 7)[:-2])
    assert (packet.cn, packet.mn) == ("9015", "BE0000000000000000000001")  # type: ignore[union-attr]


def test_two_hundred_idle_connections(tmp_path: Path) -> None:
    result = run(200, live_samples=5, spacing=0.0, settle_s=0.2, data_dir=tmp_path)
    assert (result["opened"], result["open_failed"]) == (200, 0)
    assert (result["heartbeats_answered"], result["heartbeats_failed"]) == (200, 0)
    assert result["live_before"]["samples"] == result["live_while_held"]["samples"] == 5
    assert result["gateway_alive"] and result["gateway_rss_sessions_kib"] > 0
