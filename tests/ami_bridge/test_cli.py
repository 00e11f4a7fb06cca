"""``hotline bridge replay`` shows what the state machine makes of a real capture."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hotline.cli import cli
from hotline.devtools.captures import FIXTURES


def test_replay_prints_the_domain_events_of_a_capture() -> None:
    result = CliRunner().invoke(cli, [
        "bridge", "replay", "04", "--agent", "Local/201@agents=201", "--agent", "Local/203@agents=203",
    ])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("CallAnswered" in line and "ring=3" in line for line in lines)
    assert any(line.startswith("[  37.534] AgentRingNoAnswer") and "extension=201" in line for line in lines)
    assert lines[-1].startswith("[  71.363] CallEnded") and "disposition=answered" in lines[-1]


def test_replay_reads_a_transcript_file_too(tmp_path: Path) -> None:
    copy = tmp_path / "mine.txt"
    copy.write_text((FIXTURES / "07-hangup-action-causes.txt").read_text())
    result = CliRunner().invoke(cli, ["bridge", "replay", str(copy)])
    assert result.exit_code == 0, result.output
    assert result.output.count("CallEnded") == 3


def test_replay_names_what_is_wrong_with_its_arguments() -> None:
    bad_agent = CliRunner().invoke(cli, ["bridge", "replay", "04", "--agent", "201"])
    assert bad_agent.exit_code != 0 and "expected INTERFACE=EXTENSION" in bad_agent.output
    no_capture = CliRunner().invoke(cli, ["bridge", "replay", "99"])
    assert no_capture.exit_code != 0 and "no capture '99'" in no_capture.output
    no_stream = CliRunner().invoke(cli, ["bridge", "replay", "04", "--stream", "ami-9"])
    assert no_stream.exit_code != 0 and "no stream 'ami-9'" in no_stream.output
