"""Q.850 hangup causes as Asterisk names them (``Cause`` / ``Cause-txt`` in Hangup events)."""

from __future__ import annotations

UNKNOWN = 0
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
CONGESTION = 34
NETWORK_OUT_OF_ORDER = 38

_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    27: "Destination out of order",
    28: "Invalid number format",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    42: "Switching equipment congestion",
    127: "Interworking, unspecified",
}


def cause_text(cause: int) -> str:
    """``Cause-txt`` for a cause code; unknown codes read "Unknown" as in Asterisk."""
    return _TEXT.get(cause, "Unknown")


def dial_status_for_cause(cause: int) -> str:
    """The DialEnd status Asterisk publishes when an outgoing leg hangs up before answering."""
    if cause == USER_BUSY:
        return "BUSY"
    if cause in (CONGESTION, 42):
        return "CONGESTION"
    if cause in (3, SUBSCRIBER_ABSENT):
        return "CHANUNAVAIL"
    return "NOANSWER"
