"""Registering upstream platforms: a name once, then versions of its settings (append-only, newest wins).

A change (new address, other devices, pause, resume) is a new ``upstream_versions`` row with who made it
and why; nothing is edited, so the history says which devices went where and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, or_, select

from envwatch.core.errors import InvalidInput
from envwatch.ingest.upstream.schema import upstream_status, upstream_versions, upstreams
from envwatch.ingest.upstream.source import start_cursor
from envwatch.registry.schema import devices, enterprises, outlets

__all__ = [
    "UpstreamConfig",
    "add_upstream",
    "all_current",
    "change_upstream",
    "current",
    "device_ids_for",
    "device_query",
    "history",
]


@dataclass(frozen=True)
class UpstreamConfig:
    """The current settings of one upstream (its newest version)."""

    id: int
    name: str
    host: str
    port: int
    region_prefixes: tuple[str, ...]
    enterprise_ids: tuple[int, ...]
    acks: bool
    enabled: bool
    version_id: int
    changed_by: str
    changed_at: datetime
    note: str

    @property
    def everything(self) -> bool:
        """Every device is forwarded (no region prefix, no enterprise named)."""
        return not self.region_prefixes and not self.enterprise_ids

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["region_prefixes"], out["enterprise_ids"] = list(self.region_prefixes), list(self.enterprise_ids)
        return out


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"the address must be HOST:PORT, e.g. 10.1.2.3:8212, not {text!r}")
    return host, int(port)


def _check(config: UpstreamConfig) -> None:
    for prefix in config.region_prefixes:
        if not (prefix.isascii() and prefix.isdigit() and 1 <= len(prefix) <= 6):
            raise InvalidInput(
                f"a region prefix is 1-6 digits of a 行政区划代码 (e.g. 33, 3301), not {prefix!r}"
            )


def add_upstream(
    conn: Connection,
    *,
    name: str,
    address: str,
    region_prefixes: Sequence[str] = (),
    enterprise_ids: Sequence[int] = (),
    acks: bool = True,
    enabled: bool = True,
    by: str,
    now: datetime,
    note: str = "",
    since: datetime | None = None,
) -> UpstreamConfig:
    """Register an upstream; its forwarder starts after the last packet received before ``since`` (None:
    at the log's end, so only what arrives from now on, plus what ``rewind`` asks for)."""
    name = name.strip()
    if not name:
        raise InvalidInput("an upstream needs a name")
    if conn.execute(select(upstreams.c.id).where(upstreams.c.name == name)).first() is not None:
        raise InvalidInput(f"upstream {name!r} exists: change it (pause, resume, set) instead")
    host, port = parse_address(address)
    upstream_id = conn.execute(insert(upstreams).values(name=name, created_at=now)).inserted_primary_key[0]  # type: ignore[index]
    draft = UpstreamConfig(
        id=int(upstream_id),
        name=name,
        host=host,
        port=port,
        region_prefixes=tuple(region_prefixes),
        enterprise_ids=tuple(int(i) for i in enterprise_ids),
        acks=acks,
        enabled=enabled,
        version_id=0,
        changed_by=by,
        changed_at=now,
        note=note,
    )
    config = _write_version(conn, draft)
    conn.execute(
        insert(upstream_status).values(
            upstream_id=config.id,
            cursor=start_cursor(conn, since),
            connected=False,
            attempts=0,
            sent=0,
            acked=0,
            resent=0,
            forwarded=0,
            updated_at=now,
        )
    )
    return config


def change_upstream(
    conn: Connection, name: str, *, by: str, now: datetime, note: str = "", **changes: Any
) -> UpstreamConfig:
    """A new version of ``name``'s settings with ``changes`` (address=, region_prefixes=, enterprise_ids=,
    acks=, enabled=); the unchanged fields are carried over."""
    config = current(conn, name)
    if "address" in changes:
        changes["host"], changes["port"] = parse_address(changes.pop("address"))
    for key in ("region_prefixes", "enterprise_ids"):
        if key in changes:
            changes[key] = tuple(changes[key])
    return _write_version(conn, replace(config, changed_by=by, changed_at=now, note=note, **changes))


def _write_version(conn: Connection, config: UpstreamConfig) -> UpstreamConfig:
    _check(config)
    version_id = conn.execute(
        insert(upstream_versions).values(
            upstream_id=config.id,
            host=config.host,
            port=config.port,
            region_prefixes=list(config.region_prefixes),
            enterprise_ids=list(config.enterprise_ids),
            acks=config.acks,
            enabled=config.enabled,
            changed_by=config.changed_by,
            changed_at=config.changed_at,
            note=config.note,
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return replace(config, version_id=int(version_id))


def _config(row: Any) -> UpstreamConfig:
    return UpstreamConfig(
        id=row.upstream_id,
        name=row.name,
        host=row.host,
        port=row.port,
        region_prefixes=tuple(row.region_prefixes),
        enterprise_ids=tuple(int(i) for i in row.enterprise_ids),
        acks=bool(row.acks),
        enabled=bool(row.enabled),
        version_id=row.id,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
        note=row.note,
    )


def _versions() -> Any:
    return select(upstream_versions, upstreams.c.name).join(
        upstreams, upstreams.c.id == upstream_versions.c.upstream_id
    )


def all_current(conn: Connection) -> list[UpstreamConfig]:
    """Every upstream with its newest settings, by name."""
    newest = (
        select(func.max(upstream_versions.c.id)).group_by(upstream_versions.c.upstream_id).scalar_subquery()
    )
    rows = conn.execute(_versions().where(upstream_versions.c.id.in_(newest)).order_by(upstreams.c.name))
    return [_config(r) for r in rows]


def current(conn: Connection, name: str) -> UpstreamConfig:
    row = conn.execute(
        _versions().where(upstreams.c.name == name).order_by(upstream_versions.c.id.desc()).limit(1)
    ).first()
    if row is None:
        raise InvalidInput(f"no upstream named {name!r} (envwatch upstream list)")
    return _config(row)


def current_by_id(conn: Connection, upstream_id: int) -> UpstreamConfig | None:
    row = conn.execute(
        _versions()
        .where(upstream_versions.c.upstream_id == upstream_id)
        .order_by(upstream_versions.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _config(row)


def history(conn: Connection, name: str) -> list[UpstreamConfig]:
    """Every version of ``name``'s settings, oldest first."""
    rows = conn.execute(_versions().where(upstreams.c.name == name).order_by(upstream_versions.c.id))
    return [_config(r) for r in rows]


def device_query(config: UpstreamConfig) -> Select[Any] | None:
    """The ids of the devices whose packets go to ``config`` as a query, None for every device: devices on
    an outlet of an enterprise in one of the regions or named (a device on no outlet has no region)."""
    if config.everything:
        return None
    wanted = [enterprises.c.region_code.startswith(prefix) for prefix in config.region_prefixes]
    if config.enterprise_ids:
        wanted.append(enterprises.c.id.in_(config.enterprise_ids))
    return (
        select(devices.c.id)
        .join(outlets, outlets.c.id == devices.c.outlet_id)
        .join(enterprises, enterprises.c.id == outlets.c.enterprise_id)
        .where(or_(*wanted))
    )


def device_ids_for(conn: Connection, config: UpstreamConfig) -> frozenset[int] | None:
    """The devices whose packets go to ``config`` now (None: every device)."""
    query = device_query(config)
    return None if query is None else frozenset(int(i) for i in conn.execute(query).scalars())
