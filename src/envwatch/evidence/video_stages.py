"""The stages of a monitoring service that are filmed (视频记录环节, WZ-A1-2/5/7/8).

WZ-A1-2 names five stages that must each be on video: equipment issue and return (设备领用与归还), on-site
sampling or field testing (现场采样或检测), sample preservation and transport (样品保存与运输), sample
hand-over (样品交接) and laboratory analysis (实验室分析). WZ-A1-5 adds what the sampling video must show
first (a landmark or the GPS position) and WZ-A1-7/8 what the hand-over and lab videos show (unsealing,
instrument loading, weighing, titration, colorimetry). A video record names exactly one stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from envwatch.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Stage:
    code: str
    zh: str
    en: str
    rule: str  # the clauses that require the video
    needs_position: bool = False  # WZ-A1-5: a landmark or a GPS position is filmed before sampling


STAGES: Final[dict[str, Stage]] = {
    s.code: s
    for s in (
        Stage("equipment", "设备领用与归还", "equipment issue and return", "WZ-A1-2"),
        Stage("sampling", "现场采样或检测", "on-site sampling or testing", "WZ-A1-2, WZ-A1-5", True),
        Stage("transport", "样品保存与运输", "sample preservation and transport", "WZ-A1-2"),
        Stage("handover", "样品交接", "sample hand-over", "WZ-A1-2, WZ-A1-7"),
        Stage("analysis", "实验室分析", "laboratory analysis", "WZ-A1-2, WZ-A1-8"),
    )
}


def stage(code: str) -> Stage:
    """The stage called ``code``, or 422 naming the ones there are."""
    found = STAGES.get(code)
    if found is None:
        raise InvalidInput(f"stage {code!r} is unknown; stages: {', '.join(STAGES)}")
    return found
