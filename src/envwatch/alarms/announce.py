"""What is announced, to whom, in which words: alarm and order events into the notification outbox.

CS-4.3.2.3: anomalies and exceedances are notified at once to the enterprise and the local bureau; SX-24/25:
the response workflow is visible to every party. The stores call these functions in the same transaction
as the change (outbox pattern), so an announcement exists exactly when its event does.

- alarms: ``opened`` and ``escalate`` (not every repeat: a flat line found again each hour would bury the
  people it should reach); to the device's enterprise, the operators under contract for its outlet and the
  regulators of its region (``notify.audience_for_device``);
- orders: every event but comments, to the receiver (the enterprise, or the operator) and the issuing region.

Texts are Chinese (the users' language; the web pages translate their own labels); times are China time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from envwatch.alarms.notify import Audience, announce, audience_for_device
from envwatch.alarms.orders_schema import orders
from envwatch.alarms.schema import alarms
from envwatch.core.clock import to_china
from envwatch.registry.schema import devices

# 报警类型 as the notifications name them (codes: alarms.offline, missing_hours, detectors.thresholds.KINDS)
KIND_NAMES_ZH: dict[str, str] = {
    "offline": "掉线",
    "missing_hour": "小时数据缺失",
    "exceedance": "超标",
    "marked_exceedance": "标记时段内超标",
    "ph_out_of_range": "pH超范围",
    "constant": "恒值",
    "near_detection_limit": "长期接近检出限",
    "zero_negative": "零值或负值",
    "over_range": "超量程",
    "jump": "数据突变",
    "o2_dilution": "氧含量接近空气(疑似稀释)",
    "flow_inconsistent": "流量与浓度/工况不符",
    "power_inconsistent": "用电与排放不符",
    "parameter_changed": "仪器参数与备案不符",
    "shutdown_mark_with_flow": "停运标记期间有流量",
}
ALARM_EVENTS = {"opened": "报警", "escalate": "报警升级(未按时确认)"}
ORDER_EVENTS = {
    "issued": "督办下达",
    "respond": "督办已回复",
    "accept": "督办已办结",
    "return": "督办被退回",
    "withdraw": "督办已撤销",
    "escalate": "督办逾期",
}


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{to_china(moment):%Y-%m-%d %H:%M}"


def alarm_event(conn: Connection, alarm_id: int, event: str, now: datetime) -> int:
    """Announce an alarm event (opened, escalate); returns the number of notifications written."""
    if event not in ALARM_EVENTS:
        return 0
    d = devices.c
    row = (
        conn.execute(
            select(alarms, d.mn, d.enterprise, d.outlet)
            .join(devices, d.id == alarms.c.device_id)
            .where(alarms.c.id == alarm_id)
        )
        .mappings()
        .one()
    )
    kind = KIND_NAMES_ZH.get(row["kind"], row["kind"])
    what = f"{kind} {row['factor']}".strip()
    subject = f"【{ALARM_EVENTS[event]}】{row['enterprise']} {row['outlet']}：{what}"
    lines = [
        row["summary"],
        f"设备 MN：{row['mn']}",
        f"开始时间：{_when(row['started_at'])}",
        f"依据：{row['source']}",
    ]
    if row["peak"] is not None and row["limit_value"] is not None:
        lines.append(f"峰值 {row['peak']}，限值 {row['limit_value']}，超标倍数 {row['multiple'] or '—'}")
    lines.append(f"请于 {_when(row['ack_due_at'])} 前确认（报警编号 {alarm_id}）。")
    payload: dict[str, Any] = {
        "alarm_id": alarm_id,
        "event": event,
        "kind": row["kind"],
        "factor": row["factor"],
        "mn": row["mn"],
        "state": row["state"],
        "started_at": row["started_at"].isoformat(),
        "ack_due_at": row["ack_due_at"].isoformat(),
        "peak": row["peak"],
        "limit": row["limit_value"],
        "multiple": row["multiple"],
        "summary": row["summary"],
    }
    audience = audience_for_device(conn, row["device_id"], to_china(now).date())
    return announce(
        conn,
        topic="alarm",
        ref_id=alarm_id,
        event=event,
        subject=subject,
        body="\n".join(lines),
        payload=payload,
        audience=audience,
        now=now,
    )


def order_event(conn: Connection, order_id: int, event: str, now: datetime, note: str = "") -> int:
    """Announce an order event to its receiver and its issuing region."""
    if event not in ORDER_EVENTS:
        return 0
    row = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().one()
    operators = () if row["operator_id"] is None else (int(row["operator_id"]),)
    audience = Audience(row["enterprise_id"], operators, row["region_code"])
    lines = [row["title"], f"期限：{_when(row['deadline'])}", f"状态：{row['state']}"]
    if note:
        lines.append(note)
    lines.append(f"督办编号 {order_id}")
    payload: dict[str, Any] = {
        "order_id": order_id,
        "event": event,
        "state": row["state"],
        "title": row["title"],
        "deadline": row["deadline"].isoformat(),
        "enterprise_id": row["enterprise_id"],
        "operator_id": row["operator_id"],
        "region_code": row["region_code"],
    }
    return announce(
        conn,
        topic="order",
        ref_id=order_id,
        event=event,
        subject=f"【{ORDER_EVENTS[event]}】{row['title']}",
        body="\n".join(lines),
        payload=payload,
        audience=audience,
        now=now,
    )
