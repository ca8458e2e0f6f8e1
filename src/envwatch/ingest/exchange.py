"""Downlink command exchange: the state table (DESIGN convention 3).

HJ 212 §6.1 request exchange, host → data logger:
  1. host sends the request (Flag with the ack bit);
  2. logger answers 9011 QnRtn (1 = will execute) echoing the QN — missing: retry after OverTime, at most
     ReCount times (Table 1 defaults 10 s × 3), then the request timed out;
  3. logger uploads data with the same CN (1011 SystemTime, 2051/2061/2031 history packets);
  4. logger answers 9012 ExeRtn (1 = success) with the request's QN — missing after the execution timeout:
     timed out.
Some loggers skip the 9011 and answer 9012 directly; that is accepted.
"""

from __future__ import annotations

QUEUED, SENT, ACCEPTED = "queued", "sent", "accepted"
DONE, FAILED, TIMED_OUT, EXPIRED, INTERRUPTED = "done", "failed", "timed_out", "expired", "interrupted"
FINAL = frozenset({DONE, FAILED, TIMED_OUT, EXPIRED, INTERRUPTED})

# events
SEND, RETRY, QN_RTN_OK, QN_RTN_REFUSED = "send", "retry", "qn_rtn_ok", "qn_rtn_refused"
DATA, EXE_RTN_OK, EXE_RTN_FAILED = "data", "exe_rtn_ok", "exe_rtn_failed"
GAVE_UP, EXEC_TIMEOUT, TTL_PASSED, CONNECTION_LOST = (
    "gave_up",
    "exec_timeout",
    "ttl_passed",
    "connection_lost",
)

TRANSITIONS: dict[str, dict[str, str]] = {
    QUEUED: {SEND: SENT, TTL_PASSED: EXPIRED},
    SENT: {
        RETRY: SENT,
        QN_RTN_OK: ACCEPTED,
        QN_RTN_REFUSED: FAILED,
        DATA: ACCEPTED,
        EXE_RTN_OK: DONE,
        EXE_RTN_FAILED: FAILED,
        GAVE_UP: TIMED_OUT,
        CONNECTION_LOST: INTERRUPTED,
    },
    ACCEPTED: {
        DATA: ACCEPTED,
        EXE_RTN_OK: DONE,
        EXE_RTN_FAILED: FAILED,
        EXEC_TIMEOUT: TIMED_OUT,
        CONNECTION_LOST: INTERRUPTED,
    },
    **{state: {} for state in FINAL},
}

STATES = frozenset(TRANSITIONS)


class InvalidTransition(ValueError):
    pass


def next_state(state: str, event: str) -> str:
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise InvalidTransition(f"command in state {state!r} cannot take event {event!r}") from None
