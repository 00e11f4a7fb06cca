"""The systemd units shipped in deploy/systemd start commands that exist, and restart hotline
quickly enough for the dialplan's hold of new callers (10 s of AGI retries)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from hotline.cli import cli

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def dialplan_hold_seconds() -> int:
    text = (REPO / "deploy" / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    tries = int(re.search(r"\$\{HOTLINE_AGI_TRIES\} >= (\d+)", text).group(1))  # type: ignore[union-attr]
    assert "Wait(1)" in text
    return tries


def test_units_are_shipped() -> None:
    assert [u.name for u in UNITS] == ["hotline-web@.service", "hotline.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_starts_a_real_hotline_command(path: Path) -> None:
    service = unit(path)["Service"]
    argv = shlex.split(service["ExecStart"].replace("%i", "8081"))
    assert Path(argv[0]).name == "hotline"
    result = CliRunner().invoke(cli, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output  # the subcommand and its options exist
    assert service["Restart"] == "always"
    assert service["Environment"].startswith("HOTLINE_CONFIG=")


def test_hotline_is_back_well_inside_the_dialplans_hold() -> None:
    """RestartSec plus start-up (FastAGI listens ~1.6 s after exec) inside the 10 s hold."""
    restart = float(unit(REPO / "deploy" / "systemd" / "hotline.service")["Service"]["RestartSec"])
    assert restart + 1.6 <= dialplan_hold_seconds() / 2
