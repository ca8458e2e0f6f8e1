"""Instrument parameters for the tamper check: what the device reported (CN 3020) and what is registered.

- **Reported** (现场机信息, HJ 212-2017 CN 3020, parameters ``i13xxx``): site-information packets are kept
  in the raw log like every frame (they are not measurements). :func:`reported_parameters` reads a device's
  accepted 3020 frames of a window back from the log and decodes them again with the same codec the
  gateway uses (SM4 keys from the registry: the current one first, then the older ones, since a frame may
  predate a rotation). A ``PolId`` names the factor the parameters belong to; ``DataTime`` (China time)
  dates them, else the time the frame was received.
- **Registered** (:func:`registered_parameters`): the registry's instrument facts per factor
  (``device_factors``): range upper bound as ``i13001`` (量程) and detection limit as ``i13009`` (检出限),
  the two parameters of HJ 212-2017 Appendix B.10 the registry holds today.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from envwatch.alarms.detectors.series import ParameterReading
from envwatch.core.clock import parse_device_time
from envwatch.hj212 import CrcVariant, DevicePolicy, Packet, decode_frame
from envwatch.ingest.schema import raw_packets
from envwatch.registry.schema import device_factors, device_keys, devices

RANGE_CODE, DETECTION_LIMIT_CODE = "i13001", "i13009"
PARAMETER_PREFIX = "i13"  # HJ 212-2017 B.10: instrument parameters


def _policies(conn: Connection, device_id: int) -> list[DevicePolicy]:
    row = conn.execute(select(devices.c.crc_variants).where(devices.c.id == device_id)).one()
    variants = frozenset(
        CrcVariant(v) for v in row.crc_variants.split(",") if v in CrcVariant._value2member_map_
    ) or frozenset({CrcVariant.STANDARD})
    keys = conn.execute(
        select(device_keys.c.key_hex)
        .where(device_keys.c.device_id == device_id)
        .order_by(device_keys.c.id.desc())
    ).scalars()
    policies = [DevicePolicy(sm4_key=bytes.fromhex(k), crc_variants=variants) for k in keys]
    return policies or [DevicePolicy(crc_variants=variants)]


def _decode(raw: bytes, policies: Sequence[DevicePolicy]) -> Packet | None:
    for policy in policies:
        event = decode_frame(raw, policy)
        if isinstance(event, Packet):
            return event
    return None


def reported_parameters(
    conn: Connection, device_id: int, start: datetime, end: datetime
) -> list[ParameterReading]:
    """The ``i13xxx`` parameters the device reported in its CN 3020 frames received in [start, end)."""
    r = raw_packets.c
    mn = conn.execute(select(devices.c.mn).where(devices.c.id == device_id)).scalar_one()
    frames = conn.execute(
        select(r.raw, r.received_at)
        .where(r.mn == mn, r.cn == "3020", r.verdict == "ok", r.received_at >= start, r.received_at < end)
        .order_by(r.received_at, r.id)
    ).all()
    if not frames:
        return []
    policies = _policies(conn, device_id)
    out: list[ParameterReading] = []
    for raw, received_at in frames:
        packet = _decode(raw, policies)
        if packet is None:  # stored as ok, so it decoded once; a key since deleted cannot be: skip it
            continue
        try:
            at = parse_device_time(packet.cp.get("DataTime", ""))
        except ValueError:
            at = received_at
        factor = packet.cp.get("PolId", "")
        for code, fields in packet.factors.items():
            if code.startswith(PARAMETER_PREFIX) and "Info" in fields:
                out.append(ParameterReading(at, factor, code, fields["Info"]))
    return out


def registered_parameters(conn: Connection, device_id: int) -> dict[str, dict[str, float | str]]:
    """The registered instrument parameters by factor (range → i13001, detection limit → i13009)."""
    f = device_factors.c
    out: dict[str, dict[str, float | str]] = {}
    for row in conn.execute(
        select(f.factor, f.range_high, f.detection_limit).where(f.device_id == device_id)
    ):
        params: dict[str, float | str] = {}
        if row.range_high is not None:
            params[RANGE_CODE] = float(row.range_high)
        if row.detection_limit is not None:
            params[DETECTION_LIMIT_CODE] = float(row.detection_limit)
        if params:
            out[row.factor] = params
    return out
