"""What a call's record says about the attempt it dialled: while it runs, at its end, and after
hotline stopped before the end (scheduler/outcomes.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from hotline.domain.enums import CallOutcome
from hotline.domain.events import CallRecord, LegRecord
from scheduler.outcomes import judge

T = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def leg(role: str, *, answered: bool = False, status: str | None = None) -> LegRecord:
    return LegRecord(uniqueid=f"{role}-1", channel=f"PJSIP/{role}-1", role=role, agent_id=None,
                     created_at=T, answered_at=T if answered else None, dial_status=status)


def record(*legs: LegRecord, ended: bool = False, end_reason: str | None = None,
           disposition: str | None = None) -> CallRecord:
    return CallRecord(pbx="pbx1", linkedid="1.1", uniqueid="1.1", direction="outbound",
                      caller_number=None, dialled_number=None, arrived_at=T,
                      ended_at=T if ended else None, end_reason=end_reason,
                      disposition=disposition, legs=legs, attempt_id=7)


def verdict(rec: CallRecord, mode: str = "agent_first", gone: bool = False):  # type: ignore[no-untyped-def]
    return judge(rec, rec.legs, mode, gone=gone)


@pytest.mark.parametrize(("status", "outcome"), [
    ("BUSY", CallOutcome.BUSY), ("NOANSWER", CallOutcome.NO_ANSWER),
    ("CONGESTION", CallOutcome.FAILED), ("CHANUNAVAIL", CallOutcome.FAILED),
    ("ANSWER", CallOutcome.ANSWERED),
])
def test_agent_first_the_customer_leg_dial_status_is_the_outcome(status: str, outcome: CallOutcome) -> None:
    v = verdict(record(leg("agent", answered=True), leg("customer", status=status)))
    assert v is not None and v.outcome is outcome and not v.no_retry and not v.agent_failed


def test_while_the_customer_rings_nothing_is_known_yet() -> None:
    assert verdict(record(leg("agent", answered=True), leg("customer"))) is None
    assert verdict(record(leg("customer")), mode="customer_first") is None


def test_the_agent_hanging_up_first_gives_the_try_back() -> None:
    v = verdict(record(leg("agent", answered=True), leg("customer", status="CANCEL"), ended=True))
    assert v is not None and v.agent_failed


def test_an_answered_customer_leg_is_answered_whatever_else_is_missing() -> None:
    # hotline stopped mid-conversation: the stored record has no end, but the customer talked
    v = verdict(record(leg("agent", answered=True), leg("customer", answered=True)), gone=True)
    assert v is not None and v.outcome is CallOutcome.ANSWERED and not v.no_retry


def test_an_end_not_seen_is_never_dialled_again_automatically() -> None:
    """The Originate left (the call was stored) but hotline stopped while it rang: the
    customer may have answered afterwards. No automatic retry, rather than a second call."""
    for rec, mode in (
        (record(leg("agent")), "agent_first"),  # the agent's phone was ringing
        (record(leg("agent", answered=True), leg("customer")), "agent_first"),
        (record(leg("customer")), "customer_first"),
        (record(leg("agent", answered=True), leg("customer"), ended=True,
                end_reason="lost-during-disconnect"), "agent_first"),
    ):
        v = verdict(rec, mode, gone=True)
        assert v is not None and v.no_retry and v.outcome is CallOutcome.FAILED, rec


def test_ended_calls_without_a_customer_result() -> None:
    never = verdict(record(leg("agent"), ended=True))
    assert never is not None and never.agent_failed  # the agent never picked up
    unreachable = verdict(record(leg("agent", answered=True), ended=True))
    assert unreachable is not None and unreachable.outcome is CallOutcome.FAILED
    assert not unreachable.agent_failed and not unreachable.no_retry
    busy = verdict(record(leg("customer"), ended=True, disposition="busy"), "customer_first")
    assert busy is not None and busy.outcome is CallOutcome.BUSY
