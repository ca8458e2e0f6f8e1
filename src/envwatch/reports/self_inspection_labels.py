"""Chinese labels of the codes a self-inspection report shows (states, kinds), shared by the PDF and xlsx.

A code without a label is shown as it is (a new alarm kind must not break a report).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

CLOCK_STATES: Final = {
    "met": "按时",
    "breached": "超时",
    "running": "进行中",
    "overdue": "逾期",
    "not_applicable": "不适用",
    "unknown": "无法判定",
}
FAULT_STATES: Final = {"open": "未恢复", "on_backup": "备用中", "restored": "已恢复"}
STOP_STATES: Final = {
    "submitted": "待审批",
    "approved": "已批准",
    "rejected": "未批准",
    "withdrawn": "已撤回",
    "restarted": "已复产",
}
ON_SITE: Final = {"yes": "是", "no": "否（超出范围）", "unknown": "未知"}
YES_NO: Final = {True: "是", False: "否"}
ALARM_KINDS: Final = {
    "offline": "掉线",
    "missing_hour": "小时数据缺失",
    "exceedance": "超标",
    "marked_exceedance": "标记期间超标",
    "ph_out_of_range": "pH 超出范围",
    "constant": "恒值",
    "near_detection_limit": "接近检出限",
    "zero_negative": "零值或负值",
    "over_range": "超量程",
    "jump": "突变",
    "o2_dilution": "氧含量异常（稀释）",
    "flow_inconsistent": "流量与浓度不一致",
    "power_inconsistent": "用电与排放不一致",
    "shutdown_mark_with_flow": "停运标记期间有流量",
    "parameter_changed": "参数变更",
}
QUARTER_STATES: Final = {
    "not_due_yet": "未到期",
    "due": "待提交",
    "overdue": "逾期未交",
    "submitted": "已提交",
    "submitted_late": "逾期提交",
}


def label(table: Mapping[str, str], code: str) -> str:
    return table.get(code, code)
