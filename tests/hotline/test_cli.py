"""The ``hotline`` command as a user runs it: help everywhere, schema creation on both
databases, users with hashed passwords, configuration shown without secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select

from hotline.accounts.passwords import verify_password
from hotline.cli import cli
from hotline.db.models import Agent, User
from hotline.db.session import make_engine, session_factory

HOTLINE = Path(sys.executable).with_name("hotline")


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += _all_commands(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _all_commands(cli), ids=lambda p: " ".join(p) or "hotline")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    full_env.update(env)
    return subprocess.run(
        [str(HOTLINE), *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_db_upgrade_creates_schema(empty_db_url: str, tmp_path: Path) -> None:
    result = run(["db", "upgrade"], {"HOTLINE_DATABASE__URL": empty_db_url}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "at revision" in result.stdout
    engine = make_engine(empty_db_url)
    assert {"calls", "customers", "outbound_tasks", "audit_log"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "hotline.db").is_file()


def test_user_add_stores_argon2_hash_and_agent_seat(tmp_path: Path) -> None:
    env = {"HOTLINE_DATABASE__URL": f"sqlite:///{tmp_path}/h.db", "HOTLINE_NEW_PASSWORD": "s3cret-pass"}
    assert run(["db", "upgrade"], env, tmp_path).returncode == 0
    result = run(["user", "add", "li", "--role", "agent", "--extension", "1001"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "s3cret-pass" not in result.stdout + result.stderr
    engine = make_engine(env["HOTLINE_DATABASE__URL"])
    with session_factory(engine)() as s:
        user = s.scalar(select(User).where(User.username == "li"))
        assert user.password_hash.startswith("$argon2id$")
        assert verify_password(user.password_hash, "s3cret-pass")
        assert not verify_password(user.password_hash, "wrong")
        assert s.scalar(select(Agent.interface).where(Agent.user_id == user.id)) == "PJSIP/1001"
    engine.dispose()
    again = run(["user", "add", "li", "--role", "agent"], env, tmp_path)
    assert again.returncode == 1 and "username: 'li' already exists" in again.stderr
    bad = run(["user", "add", "zhao", "--role", "agent"], {**env, "HOTLINE_NEW_PASSWORD": "short"}, tmp_path)
    assert bad.returncode == 1 and "password: password must have at least 8" in bad.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = {
        "HOTLINE_AMI__SECRET": "ami-topsecret",
        "HOTLINE_DATABASE__URL": "postgresql://hotline:db-topsecret@db.internal/hotline",
    }
    result = run(["config", "show"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ami-topsecret" not in result.stdout and "db-topsecret" not in result.stdout
    assert "postgresql://hotline:***@db.internal/hotline" in result.stdout
    assert 'answer_min_ring = 3' in result.stdout


def test_bad_configuration_stops_with_named_key(tmp_path: Path) -> None:
    (tmp_path / "hotline.toml").write_text("[web]\nport = 0\n", encoding="utf-8")
    result = run(["config", "show"], {}, tmp_path)
    assert result.returncode == 2
    assert "web.port: Input should be greater than or equal to 1" in result.stderr
