"""``hotline token`` and ``hotline report``: a token made on the command line works against
the API; the digest and report exports write what the web app shows."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.cli import cli
from hotline.db.models import Digest
from tests.reports.test_call_figures import build_march


def _run(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"HOTLINE_DATABASE__URL": db_url},
                              catch_exceptions=False)


def test_token_create_list_revoke(db_url: str, app: FastAPI) -> None:
    made = _run(db_url, "token", "create", "sup", "--name", "BI export", "--days", "30")
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    assert secret.startswith("htl_")
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as c:
        assert c.get("/api/auth/me").json()["username"] == "sup"
        listed = _run(db_url, "token", "list")
        assert "BI export" in listed.output and secret not in listed.output
        token_id = listed.output.split()[0].lstrip("#")
        assert _run(db_url, "token", "revoke", token_id).exit_code == 0
        assert c.get("/api/auth/me").status_code == 401
    missing = _run(db_url, "token", "create", "ghost", "--name", "x")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_report_digest_and_export(db_url: str, sessions: sessionmaker[Session],
                                  users: dict[str, int], tmp_path: Path) -> None:
    with sessions.begin() as s:
        build_march(s)
    built = _run(db_url, "report", "digest", "--day", "2026-03-02")
    assert built.exit_code == 0 and "digest 2026-03-02" in built.output
    with sessions() as s:
        assert [d.day.isoformat() for d in s.scalars(select(Digest))] == ["2026-03-02"]
    out = tmp_path / "agents.xlsx"
    done = _run(db_url, "report", "export", "agents", "--start", "2026-03-01", "--end",
                "2026-03-31", "-o", str(out))
    assert done.exit_code == 0, done.output
    rows = list(load_workbook(out).active.values)
    header = list(rows[1])
    amy = next(r for r in rows[2:] if r[header.index("分机 extension")] == "1001")
    assert amy[header.index("接听 answered")] == 3
    csv_out = tmp_path / "calls.csv"
    _run(db_url, "report", "export", "calls", "--start", "2026-03-01", "--end", "2026-03-31",
         "--group", "category", "-o", str(csv_out))
    assert "inquiry" in csv_out.read_text(encoding="utf-8-sig")
    bad = _run(db_url, "report", "export", "calls", "--start", "2026-03-31", "--end",
               "2026-03-01", "-o", str(csv_out))
    assert bad.exit_code == 1 and "end: must not be before start" in bad.output
