"""Settings: embedded defaults, TOML and environment precedence, and refusals that name the key."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from hotline.logging_setup import configure_logging
from hotline.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("HOTLINE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_embedded_defaults_need_nothing_installed() -> None:
    s = load_settings()
    assert s.database.url == "sqlite:///var/hotline.db"
    assert str(s.recordings.store_dir) == "var/recordings"
    assert (s.ami.host, s.ami.port) == ("127.0.0.1", 5038)
    assert (s.agi.host, s.agi.port) == ("127.0.0.1", 4573)
    assert (s.web.host, s.web.port) == ("127.0.0.1", 8080)
    assert s.timezone == "Asia/Shanghai"
    assert s.ring.period == 5.0 and s.ring.on_seconds == 1.0
    assert (s.ring.answer_min_ring, s.ring.answer_max_ring) == (3, 5)
    assert (s.hours.open, s.hours.close) == (dt.time(8), dt.time(20))
    assert (s.hours.rest_start, s.hours.rest_end) == (dt.time(12), dt.time(14))


def test_toml_file_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hotline.toml").write_text(
        '[ami]\nport = 5039\nsecret = "from-file"\n[hours]\nopen = "09:00"\n', encoding="utf-8"
    )
    monkeypatch.setenv("HOTLINE_AMI__PORT", "6000")
    s = load_settings()
    assert s.ami.port == 6000  # environment wins over the file
    assert s.ami.secret.get_secret_value() == "from-file"
    assert s.hours.open == dt.time(9, 0)


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("toml", "key", "fragment"),
    [
        ("[ami]\nport = 70000\n", "ami.port", "less than or equal to 65535"),
        ('timezone = "Mars/Olympus"\n', "timezone", "unknown IANA time zone"),
        ("[ring]\nanswer_min_ring = 4\nanswer_max_ring = 2\n", "ring", "answer_max_ring (2)"),
        ('[hours]\nopen = "25:00"\n', "hours.open", "HH:MM"),
        ('[hours]\nrest_start = "07:00"\n', "hours", "inside business hours"),
        ("[ami]\nbogus = 1\n", "ami.bogus", "unknown key"),
        ('[database]\nurl = "mysql://x@y/z"\n', "database.url", "only sqlite"),
        ('log_level = "LOUD"\n', "log_level", "DEBUG"),
    ],
)
def test_bad_value_names_key_and_what_is_allowed(
    tmp_path: Path, toml: str, key: str, fragment: str
) -> None:
    (tmp_path / "hotline.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"  {key}:" in message
    assert fragment in message
    assert "hotline.toml" in message


def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_RING__ON_SECONDS", "-1")
    with pytest.raises(ConfigError, match=r"ring\.on_seconds: Input should be greater than 0"):
        load_settings()


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    (tmp_path / "hotline.toml").write_text("[ami\nport=1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_secrets_never_reach_the_logs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_AMI__SECRET", "s3cr3t-ami")
    monkeypatch.setenv("HOTLINE_DATABASE__URL", "postgresql://hl:pg-pass-9@db.example/hotline")
    s = load_settings()
    configure_logging("INFO", s.secret_values())
    log = logging.getLogger("hotline.test")
    log.info("login with secret %s to %s", "s3cr3t-ami", s.database.sqlalchemy_url().render_as_string(False))
    try:
        raise RuntimeError("connect failed: password pg-pass-9 rejected")
    except RuntimeError:
        log.exception("database down")
    err = capsys.readouterr().err
    assert "login with secret ***" in err
    assert "s3cr3t-ami" not in err and "pg-pass-9" not in err
    assert "database down" in err


def test_loading_a_file_does_not_leak_into_the_next_load(tmp_path: Path) -> None:
    bad = tmp_path / "other.toml"
    bad.write_text("[ami]\nport = 6001\n", encoding="utf-8")
    assert load_settings(bad).ami.port == 6001
    assert load_settings().ami.port == 5038  # the explicit file was for that load only
