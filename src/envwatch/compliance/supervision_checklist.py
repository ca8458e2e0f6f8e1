"""The checklist of the city's on-site supervision (现场监督检查内容, SX-22.4): nine items, each answered
ok / problem / na.

The items are those of 山西省污染源自动监测管理办法 第二十二条 (四), in its order; each has a stable key
(what results store), the English text and the Chinese text of the clause. The pages and the CLI show
these texts; the keys never change once results exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    key: str
    number: int  # its number in SX-22.4 (1..9)
    text: str  # English
    text_zh: str  # the clause's words


CHECKLIST: Final[tuple[ChecklistItem, ...]] = (
    ChecklistItem(
        "site_network",
        1,
        "Construction of the on-site equipment to standard and network transmission",
        "自动监测设备现场端建设规范化情况和联网传输情况",
    ),
    ChecklistItem(
        "acceptance_filing", 2, "Acceptance and filing of the equipment", "自动监测设备验收备案情况"
    ),
    ChecklistItem("changes", 3, "Changes to the equipment", "自动监测设备变更情况"),
    ChecklistItem(
        "operation", 4, "Normal operation and maintenance of the equipment", "自动监测设备正常运行及维护情况"
    ),
    ChecklistItem("comparison", 5, "Comparison monitoring of the equipment", "自动监测设备比对监测情况"),
    ChecklistItem(
        "rules_ledgers",
        6,
        "Rules and ledgers for operation, maintenance, repair, calibration, checks and comparison monitoring",
        "自动监测设备运行、维护、检修、校准校验、比对监测等制度建设及台账情况",
    ),
    ChecklistItem(
        "reference_materials",
        7,
        "Validity of the reference material certificates",
        "相关标准物质证书的有效性",
    ),
    ChecklistItem(
        "production_correlation",
        8,
        "Consistency of production, treatment facilities and the monitoring data",
        "生产工况、污染治理设施运行与自动监测数据的相关性",
    ),
    ChecklistItem(
        "other",
        9,
        "Other matters the inspectors found necessary to check",
        "现场检查人员根据工作需要认为有必要检查的其他情况",
    ),
)

KEYS: Final[tuple[str, ...]] = tuple(item.key for item in CHECKLIST)
STATES: Final[tuple[str, ...]] = ("ok", "problem", "na")
BY_KEY: Final[dict[str, ChecklistItem]] = {item.key: item for item in CHECKLIST}
