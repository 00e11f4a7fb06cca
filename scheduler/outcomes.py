"""What the bridge's record of a call says about the outbound attempt it dialled.

The bridge stores every call with the attempt id it carries (``calls.attempt_id``, from the
``HOTLINE_ATTEMPT_ID`` channel variable) and publishes the whole record on the bus
(``CallUpdated``). The dialler reads that record twice over:

- while the call runs: agent first, the customer's outcome is the ``DialStatus`` of the
  customer leg's ``DialEnd`` (the OriginateResponse only says the *agent* answered), and the
  record's end frees the attempt's pacing slot;
- after a crash: an attempt nobody follows any more and whose channels are gone from the PBX
  is judged from its stored call. A stored call proves the Originate left; no stored call
  (and no channel) means it never did, or died within the bridge's few milliseconds of write
  delay.

A stored record may stop before the call's end (hotline stopped, or the AMI link dropped,
mid-call). What happened afterwards is unknown: the customer may have answered. Such an
attempt is settled ``failed`` *without* a retry, for a person to look at, rather than ring the
customer a second time; a known outcome (the customer answered, the customer's line was busy)
is taken as it is.

Rows (``Call`` / ``CallLeg``) and records (``CallRecord`` / ``LegRecord``) spell their fields
the same way, so one judge reads both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from hotline.domain.enums import CallOutcome

# Dial() DIALSTATUS of the customer's leg (agent first) -> customer outcome.
DIALSTATUS_OUTCOMES: dict[str, CallOutcome] = {
    "ANSWER": CallOutcome.ANSWERED,
    "NOANSWER": CallOutcome.NO_ANSWER,
    "BUSY": CallOutcome.BUSY,
    "CONGESTION": CallOutcome.FAILED,
    "CHANUNAVAIL": CallOutcome.FAILED,
    "INVALIDARGS": CallOutcome.FAILED,
}

# Call.disposition of an outbound call the customer did not answer (customer first).
DISPOSITION_OUTCOMES: dict[str, CallOutcome] = {
    "busy": CallOutcome.BUSY,
    "no_answer": CallOutcome.NO_ANSWER,
}

# The bridge's end_reason for a call whose end it did not see (AMI link down).
END_NOT_SEEN = "lost-during-disconnect"


class LegLike(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def answered_at(self) -> dt.datetime | None: ...
    @property
    def dial_status(self) -> str | None: ...


class CallLike(Protocol):
    @property
    def ended_at(self) -> dt.datetime | None: ...
    @property
    def end_reason(self) -> str | None: ...
    @property
    def disposition(self) -> str | None: ...


@dataclass(frozen=True)
class Verdict:
    outcome: CallOutcome
    detail: str
    # agent first: the agent's phone did not take the call; the customer was never dialled
    agent_failed: bool = False
    # the customer may have been reached: never dial the task again automatically
    no_retry: bool = False


def _text(value: object) -> str:
    return "" if value is None else str(value)


def customer_outcome(legs: Iterable[LegLike], mode: str) -> Verdict | None:
    """What the customer's leg shows for certain, before or after the call's end."""
    customers = [leg for leg in legs if _text(leg.role) == "customer"]
    if any(leg.answered_at is not None for leg in customers):
        return Verdict(CallOutcome.ANSWERED, "the customer answered")
    if mode != "agent_first":
        return None  # customer first: the OriginateResponse gives the customer's outcome
    for leg in customers:
        status = (leg.dial_status or "").upper()
        if status == "CANCEL":
            # the agent hung up while the customer's phone rang
            return Verdict(CallOutcome.FAILED, "customer leg DIALSTATUS CANCEL (the agent "
                           "hung up first)", agent_failed=True)
        if status:
            return Verdict(DIALSTATUS_OUTCOMES.get(status, CallOutcome.FAILED),
                           f"customer leg DIALSTATUS {status}")
    return None


def judge(call: CallLike, legs: Iterable[LegLike], mode: str, *, gone: bool) -> Verdict | None:
    """The attempt's outcome from its call; None while the call goes on and nothing is known.

    ``gone``: the call's channels are no longer on the PBX, whether or not the record saw
    its end.
    """
    legs = list(legs)
    known = customer_outcome(legs, mode)
    if known is not None:
        return known
    end_seen = call.ended_at is not None and _text(call.end_reason) != END_NOT_SEEN
    if not end_seen:
        if not gone and call.ended_at is None:
            return None
        return Verdict(
            CallOutcome.FAILED,
            "dialled, but hotline did not see how the call ended (stopped or lost the PBX "
            "link mid-call): not dialled again automatically",
            no_retry=True,
        )
    if mode != "agent_first":
        outcome = DISPOSITION_OUTCOMES.get(_text(call.disposition), CallOutcome.FAILED)
        return Verdict(outcome, f"call ended unanswered ({_text(call.disposition) or 'no disposition'})")
    agent_answered = any(
        _text(leg.role) == "agent" and leg.answered_at is not None for leg in legs
    )
    if not any(_text(leg.role) == "customer" for leg in legs):
        if agent_answered:
            return Verdict(CallOutcome.FAILED, "the agent answered; the customer's line "
                           "could not be dialled")
        return Verdict(CallOutcome.FAILED, "the agent's phone did not take the call",
                       agent_failed=True)
    return Verdict(CallOutcome.FAILED, "the customer's leg ended without a dial status")
