"""Answering host requests the way a data logger does (HJ 212 §6.5, Appendix C).

A request (with QN) gets 9011 at once: QnRtn=1 when it will be executed, 3/4 for a wrong PW/MN, 2 for
a command this logger does not implement. Then the work: an upload with the same CN and the
request's QN and no ack wanted (1011 SystemTime, 1061 RtdInterval, 1063 MinInterval), or history
data packets, each an ordinary upload with its own QN that wants its 9014. Last, 9012 ExeRtn with the
request's QN (1 done, 3 bad request, 100 no data). Notifications (2012 stop real-time data, 2022
stop status data) get 9013 only.

History is regenerated from the instrument model, so it equals what was sent live.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from envwatch.hj212 import Packet, encode, exe_rtn, notify_ack, qn_rtn

from .model import from_local_time, local_time
from .wire import Outgoing, header_for

if TYPE_CHECKING:
    from .logger import Session, SimLogger

__all__ = ["answer"]

QN_OK, QN_REJECTED, QN_BAD_PW, QN_BAD_MN = 1, 2, 3, 4  # HJ 212-2017 Table 7
EXE_OK, EXE_BAD_REQUEST, EXE_NO_DATA = 1, 3, 100  # Table 6

_MIN_INTERVALS = frozenset({1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30})  # CN 1064 MinInterval
_HISTORY_SECONDS = {"2051": 0, "2061": 3600, "2031": 86400}  # 0: the logger's MinInterval

Handler = Callable[["SimLogger", "Session", Packet], Awaitable[int]]


async def answer(logger: SimLogger, session: Session, request: Packet) -> None:
    cn = request.cn or ""
    if cn in ("2012", "2022"):
        if cn == "2012":
            logger.realtime_on = False
        await logger.write(session, "9013", notify_ack(request))
        return
    handler = _HANDLERS.get(cn)
    if request.mn is not None and request.mn != logger.device.mn:
        rtn = QN_BAD_MN
    elif request.pw is not None and request.pw != logger.device.pw:
        rtn = QN_BAD_PW
    else:
        rtn = QN_OK if handler is not None else QN_REJECTED
    # 9011/9012 come from hj212's builders: QN, PW and MN echoed, ST=91, the version's Flag without ack
    await logger.write(session, "9011", qn_rtn(request, rtn))
    if rtn != QN_OK or handler is None:
        return
    exe = await handler(logger, session, request)
    await logger.write(session, "9012", exe_rtn(request, exe))


async def _upload(logger: SimLogger, session: Session, request: Packet, cp: Mapping[str, str]) -> None:
    header = header_for(logger.device, request.qn or "", request.cn or "", ack=False)
    await logger.write(session, request.cn or "", encode(header, cp))


async def _get_time(logger: SimLogger, session: Session, request: Packet) -> int:
    cp = {"PolId": request.cp["PolId"]} if "PolId" in request.cp else {}
    await _upload(logger, session, request, {**cp, "SystemTime": local_time(logger.now())})
    return EXE_OK


async def _set_time(logger: SimLogger, session: Session, request: Packet) -> int:
    try:
        wanted = from_local_time(request.cp["SystemTime"])
    except (KeyError, ValueError):
        return EXE_BAD_REQUEST
    logger.set_clock(wanted)
    return EXE_OK


async def _get_interval(logger: SimLogger, session: Session, request: Packet) -> int:
    await _upload(logger, session, request, {"RtdInterval": f"{logger.interval:g}"})
    return EXE_OK


async def _set_interval(logger: SimLogger, session: Session, request: Packet) -> int:
    try:
        value = float(request.cp["RtdInterval"])
    except (KeyError, ValueError):
        return EXE_BAD_REQUEST
    if not 0 < value <= 3600:  # the standard says 30-3600 s; accelerated tests use less, so only cap it
        return EXE_BAD_REQUEST
    logger.set_interval(value)
    return EXE_OK


async def _get_min_interval(logger: SimLogger, session: Session, request: Packet) -> int:
    await _upload(logger, session, request, {"MinInterval": str(logger.min_interval)})
    return EXE_OK


async def _set_min_interval(logger: SimLogger, session: Session, request: Packet) -> int:
    value = request.cp.get("MinInterval", "")
    if not value.isdigit() or int(value) not in _MIN_INTERVALS:
        return EXE_BAD_REQUEST
    logger.min_interval = int(value)
    return EXE_OK


async def _start_realtime(logger: SimLogger, session: Session, request: Packet) -> int:
    logger.realtime_on = True
    return EXE_OK


async def _history(logger: SimLogger, session: Session, request: Packet) -> int:
    """Statistics of every period that starts within [BeginTime, EndTime] and is already over."""
    cn = request.cn or ""
    try:
        begin = from_local_time(request.cp["BeginTime"])
        end = from_local_time(request.cp["EndTime"])
    except (KeyError, ValueError):
        return EXE_BAD_REQUEST
    seconds = _HISTORY_SECONDS[cn] or logger.min_interval * 60
    first = math.ceil(begin / seconds) * seconds
    last = min(end, int(logger.now()) - seconds)
    starts = range(first, last + 1, seconds)[: logger.options.max_history_packets]
    if not starts:
        return EXE_NO_DATA
    for start in starts:
        cp, factors = logger.model.period(start, seconds, logger.interval)
        # ordinary data uploads (own QN, 9014 wanted, encrypted for 2025), never marked back-fill
        await logger.send(session, Outgoing(cn, cp, factors, encrypt=True))
    return EXE_OK


_HANDLERS: dict[str, Handler] = {
    "1011": _get_time,
    "1012": _set_time,
    "1061": _get_interval,
    "1062": _set_interval,
    "1063": _get_min_interval,
    "1064": _set_min_interval,
    "2011": _start_realtime,
    "2051": _history,
    "2061": _history,
    "2031": _history,
}
