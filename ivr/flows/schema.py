"""What a call flow file may say: one typed model per node kind.

A flow is a graph of named nodes; each node names the node(s) that follow it. The schema
checks each node on its own (kinds, fields, digits, durations); :mod:`ivr.flows.checks` checks
the graph (unknown and unreachable nodes, loops without exit, prompts, the greeting first).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from hotline.domain.enums import CallCategory, CallDisposition, Role

NODE_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
PROMPT_NAME = r"^[a-z][a-z0-9_]{0,63}$"
DTMF = re.compile(r"^[0-9*#]+$")

NodeName = Annotated[str, StringConstraints(pattern=NODE_NAME)]
PromptName = Annotated[str, StringConstraints(pattern=PROMPT_NAME)]
Seconds = Annotated[float, Field(gt=0, le=3600)]

# What the IVR may tell the bridge through HOTLINE_DISPOSITION (docs/design.md).
IVR_DISPOSITIONS = (
    CallDisposition.SILENT,
    CallDisposition.CALLBACK_REQUESTED,
    CallDisposition.IVR_ONLY,
    CallDisposition.ABUSIVE,
)
Disposition = Literal["silent", "callback_requested", "ivr_only", "abusive"]


def _prompts(value: Any) -> Any:
    """A prompt field takes one name or a list of names; keep a tuple."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


Prompts = Annotated[tuple[PromptName, ...], Field(min_length=1)]


def _dtmf_key(key: Any) -> Any:
    """Menu option keys: YAML reads ``1:`` as an int, so digits may come as ints."""
    if isinstance(key, bool):
        raise ValueError(f"option {key!r} is not a digit")
    if isinstance(key, int) and key >= 0:
        return str(key)
    if not isinstance(key, str) or not DTMF.match(key):
        raise ValueError(f"option {key!r} is not DTMF digits (0-9, * or #; quote '*' and '#')")
    return key


DtmfKey = Annotated[str, BeforeValidator(_dtmf_key)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""


class AnswerNode(_Node):
    """Send ringing (EXEC Ringing), wait until ``ring`` of the cadence, then ANSWER."""

    kind: Literal["answer"]
    ring: Annotated[int, Field(ge=1, le=20)] = 3
    next: NodeName


class PlayNode(_Node):
    kind: Literal["play"]
    prompt: Prompts
    next: NodeName

    _split = field_validator("prompt", mode="before")(_prompts)


class MenuNode(_Node):
    """Play ``prompt`` and read digits; ``retries`` more tries after an invalid or no input.

    After the last try: ``on_no_input`` when the caller pressed nothing in any try (silence),
    otherwise ``on_invalid``.
    """

    kind: Literal["menu"]
    prompt: PromptName
    options: dict[DtmfKey, NodeName] = Field(min_length=1)
    timeout: Seconds = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    max_digits: Annotated[int, Field(ge=1, le=20)] = 1
    invalid_prompt: PromptName | None = None
    no_input_prompt: PromptName | None = None
    on_invalid: NodeName
    on_no_input: NodeName


class HoursNode(_Node):
    """Branch on business hours: working days of the calendar and ``hours`` settings."""

    kind: Literal["hours"]
    open: NodeName
    closed: NodeName
    # Inside the configured rest period (hours.rest_start..rest_end) the hotline is closed
    # unless this says "open".
    rest_period: Literal["closed", "open"] = "closed"
    # True: any day of the week counts, only the clock matters.
    any_day: bool = False


class RouteNode(_Node):
    """Offer the call to agents through the bridge's router, under the ring policy.

    While nobody is free the caller hears music on hold with ``apology_prompt`` every
    ``apology_every`` seconds (rule 1.9); after ``callback_after`` seconds the callback offer
    plays once, and pressing ``callback_digit`` goes to ``on_callback``.
    """

    kind: Literal["route"]
    roles: tuple[Role, ...] | None = None
    queue: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    apology_prompt: PromptName = "please_wait"
    apology_every: Seconds = 30.0
    apology_first: bool = True
    callback_after: Seconds | None = None
    callback_prompt: PromptName = "callback_offer"
    callback_digit: Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")] = "1"
    callback_timeout: Seconds = 5.0
    on_callback: NodeName | None = None
    max_wait: Seconds | None = None
    on_timeout: NodeName | None = None
    # MixMonitor the bridged part (option b) into the spool before dialling an agent.
    record: bool = True
    # After the agent conversation the call is over; a node here runs if the caller is
    # still on the line (e.g. a survey). None: hang up.
    next: NodeName | None = None

    @field_validator("roles", mode="before")
    @classmethod
    def _roles(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _pairs(self) -> RouteNode:
        if (self.callback_after is None) != (self.on_callback is None):
            raise ValueError("callback_after and on_callback go together")
        if (self.max_wait is None) != (self.on_timeout is None):
            raise ValueError("max_wait and on_timeout go together")
        return self


class CallbackNode(_Node):
    """Create a callback (OutboundTask of type requested) for the caller's number, due at the
    next calling window. ``mode: offer`` asks first (press ``accept_digit``)."""

    kind: Literal["callback"]
    mode: Literal["offer", "accept"] = "accept"
    prompt: PromptName = "callback_offer"
    accept_digit: Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")] = "1"
    timeout: Seconds = 5.0
    confirm_prompt: PromptName = "callback_confirm"
    unavailable_prompt: PromptName = "callback_unavailable"
    next: NodeName
    declined: NodeName | None = None
    failed: NodeName

    @model_validator(mode="after")
    def _declined(self) -> CallbackNode:
        if self.mode == "offer" and self.declined is None:
            raise ValueError("an offer needs 'declined' (where to go when the caller says no)")
        if self.mode == "accept" and self.declined is not None:
            raise ValueError("'declined' only applies to mode: offer")
        return self


class CategoryNode(_Node):
    kind: Literal["category"]
    category: CallCategory
    next: NodeName


class HangupNode(_Node):
    """Tell the bridge the disposition, play the optional prompt(s), hang up."""

    kind: Literal["hangup"]
    prompt: Prompts | None = None
    disposition: Disposition | None = None

    _split = field_validator("prompt", mode="before")(_prompts)


class BlacklistNode(_Node):
    """Look the caller's number up in the blacklist (rule 9.15).

    A listed caller is recorded from here on (``record``), later route nodes offer the call
    only to ``roles``, and the flow goes on at ``listed`` (default: ``next``).
    """

    kind: Literal["blacklist"]
    record: bool = True
    roles: tuple[Role, ...] | None = (Role.TEAM_LEADER, Role.SUPERVISOR)
    listed: NodeName | None = None
    next: NodeName


class RecordNode(_Node):
    """MixMonitor the whole call (both directions, from now on) into the spool."""

    kind: Literal["record"]
    next: NodeName


class GotoNode(_Node):
    kind: Literal["goto"]
    next: NodeName


Node = Annotated[
    AnswerNode
    | PlayNode
    | MenuNode
    | HoursNode
    | RouteNode
    | CallbackNode
    | CategoryNode
    | HangupNode
    | BlacklistNode
    | RecordNode
    | GotoNode,
    Field(discriminator="kind"),
]

NODE_KINDS = (
    "answer", "play", "menu", "hours", "route", "callback", "category", "hangup",
    "blacklist", "record", "goto",
)


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str = ""
    # AGI script paths this flow serves (agi://host:4573/<route>); the query is not part of it.
    routes: tuple[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]{1,128}$")], ...] = ()
    # The prompt that must be the first one every answered call hears (rule 1.2); null for
    # flows that need none (e.g. customer-first outbound calls).
    greeting: PromptName | None = "greeting"
    # True for calls that reach the IVR already answered (customer-first outbound calls that
    # Asterisk originated): no answer node, sound may play at once.
    answered: bool = False
    start: NodeName
    nodes: dict[NodeName, Node] = Field(min_length=1)


def edges(node: Any) -> list[tuple[tuple[str, ...], str | None]]:
    """Where a node can go next: (field path inside the node, target). None is the end of the
    call (the route node's conversation with an agent, or a hang-up)."""
    match node:
        case MenuNode():
            found: list[tuple[tuple[str, ...], str | None]] = [
                (("options", k), v) for k, v in node.options.items()
            ]
            return found + [(("on_invalid",), node.on_invalid), (("on_no_input",), node.on_no_input)]
        case HoursNode():
            return [(("open",), node.open), (("closed",), node.closed)]
        case RouteNode():
            found = [(("next",), node.next)]
            if node.on_callback is not None:
                found.append((("on_callback",), node.on_callback))
            if node.on_timeout is not None:
                found.append((("on_timeout",), node.on_timeout))
            return found
        case CallbackNode():
            found = [(("next",), node.next), (("failed",), node.failed)]
            if node.declined is not None:
                found.append((("declined",), node.declined))
            return found
        case BlacklistNode():
            found = [(("next",), node.next)]
            if node.listed is not None:
                found.append((("listed",), node.listed))
            return found
        case HangupNode():
            return [((), None)]
        case _:
            return [(("next",), node.next)]


def prompt_fields(node: Any) -> list[tuple[tuple[str, ...], str]]:
    """Every prompt a node may play, with its field path."""
    found: list[tuple[tuple[str, ...], str]] = []
    match node:
        case PlayNode():
            found += [(("prompt", str(i)), p) for i, p in enumerate(node.prompt)]
        case HangupNode() if node.prompt:
            found += [(("prompt", str(i)), p) for i, p in enumerate(node.prompt)]
        case MenuNode():
            found.append((("prompt",), node.prompt))
            for name in ("invalid_prompt", "no_input_prompt"):
                if getattr(node, name):
                    found.append(((name,), getattr(node, name)))
        case RouteNode():
            found.append((("apology_prompt",), node.apology_prompt))
            if node.callback_after is not None:
                found.append((("callback_prompt",), node.callback_prompt))
        case CallbackNode():
            if node.mode == "offer":
                found.append((("prompt",), node.prompt))
            found += [(("confirm_prompt",), node.confirm_prompt),
                      (("unavailable_prompt",), node.unavailable_prompt)]
    return found


# Node kinds that wait for the caller (digits) or for an agent: a loop through one of them
# is the caller's choice, not a hang.
INPUT_KINDS = (MenuNode, RouteNode)


def waits_for_caller(node: Any) -> bool:
    return isinstance(node, INPUT_KINDS) or (isinstance(node, CallbackNode) and node.mode == "offer")
