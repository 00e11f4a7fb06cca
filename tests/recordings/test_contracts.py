"""What the recordings code and the Asterisk dialplan / the IVR must agree on."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from hotline.domain.spool import parse_spool_file_name, spool_file_name
from hotline.settings import RecordingSettings, Settings
from recordings import pbx_steps
from tests.conftest import REPO


def warning_context() -> str:
    text = (REPO / "deploy/asterisk/extensions.conf").read_text()
    m = re.search(r"^\[hotline-warning\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert m, "extensions.conf has no [hotline-warning] context"
    return m[1]


def test_the_dialplan_has_every_extension_the_flag_steps_redirect_to() -> None:
    body = warning_context()
    extens = set(re.findall(r"^exten => ([\w-]+),1,", body, re.M))
    assert {"warn", "notice", "close", "agent-wait", "agent-end", "h"} <= extens
    for var in (pbx_steps.PROMPT_VAR, pbx_steps.AGENT_VAR):
        assert "${" + var + "}" in body
    assert f"Set({pbx_steps.DISPOSITION_VAR}=abusive)" in body
    assert RecordingSettings().warning_context == "hotline-warning"


def test_spool_names_carry_the_call() -> None:
    name = spool_file_name("pbx1", "1700000000.12", "1700000000.13")
    assert name == "pbx1-1700000000.12-1700000000.13.wav"
    parsed = parse_spool_file_name(name)
    assert parsed is not None and parsed.call_key == "pbx1:1700000000.12"
    assert parse_spool_file_name("notes.wav") is None
    assert parse_spool_file_name("../pbx1-1.2-1.2.wav") is None
    # what the phase-1 IVR wrote: a bare uniqueid tells nothing of the pbx, so it is not ours
    assert parse_spool_file_name("1700000000.12.wav") is None


def test_whole_call_recordings_have_a_name_of_their_own() -> None:
    bridged = spool_file_name("pbx1", "1700000000.12", "1700000000.12")
    whole = spool_file_name("pbx1", "1700000000.12", "1700000000.12", whole_call=True)
    assert whole == "pbx1-1700000000.12-1700000000.12-call.wav" != bridged
    parsed = parse_spool_file_name(whole)
    assert parsed is not None and parsed.whole_call and parsed.call_key == "pbx1:1700000000.12"
    assert not parse_spool_file_name(bridged).whole_call  # type: ignore[union-attr]


@pytest.mark.parametrize("pbx", ["pbx-east", "pbx-1.5", "a.b_c"])
def test_a_dash_in_the_pbx_name_does_not_confuse_the_call(pbx: str) -> None:
    for whole in (False, True):
        name = spool_file_name(pbx, "1700000000.12", "1700000000.13", whole_call=whole)
        parsed = parse_spool_file_name(name)
        assert parsed is not None
        assert (parsed.pbx, parsed.linkedid, parsed.uniqueid, parsed.whole_call) == (
            pbx, "1700000000.12", "1700000000.13", whole)


@pytest.mark.parametrize("name", ["pbx:1", "pbx/1", "pbx 1", ""])
def test_a_pbx_name_that_could_not_name_a_spool_file_is_refused_at_start(name: str) -> None:
    with pytest.raises(ValidationError, match="pbx_name"):
        Settings(ami={"pbx_name": name})


@pytest.mark.parametrize("args", [("pbx/1", "1.2", "1.2"), ("pbx1", "../1", "1.2"),
                                  ("pbx1", "1.2", "x")])
def test_spool_names_refuse_what_is_not_an_id(args: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError):
        spool_file_name(*args)
