"""Reports through the API as a supervisor sees them: JSON figures equal to the known ones,
CSV and XLSX exports of the same table, SVG charts; bad periods named."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from tests.reports.test_call_figures import build_march


@pytest.fixture
def march(sessions: sessionmaker[Session], users: dict[str, int]) -> None:
    with sessions.begin() as s:
        build_march(s)


def test_calls_by_day_as_json(march: None, bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    r = sup.get("/api/reports/calls?start=2026-03-01&end=2026-03-31&group=day")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["timezone"] == "Asia/Shanghai" and body["start"] == "2026-03-01"
    assert body["summary"]["offered"] == 7 and body["summary"]["service_level"] == 0.7143
    day2 = next(row for row in body["rows"] if row["bucket"] == "2026-03-02")
    assert (day2["offered"], day2["answered"], day2["asa_seconds"]) == (5, 3, 30.0)
    assert [c["key"] for c in body["columns"]][:3] == ["bucket", "offered", "answered"]


def test_every_report_answers(march: None, bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    for name in ("agents", "rings", "deadlines", "complaints", "member-coverage", "recordings",
                 "scorecard"):
        r = sup.get(f"/api/reports/{name}?start=2026-03-01&end=2026-03-31")
        assert r.status_code == 200, (name, r.text)
    agents = {row["extension"]: row for row in
              sup.get("/api/reports/agents?start=2026-03-01&end=2026-03-31").json()["rows"]}
    assert agents["1001"]["ring_no_answer"] == 2 and agents["1002"]["answered"] == 2


def test_csv_export_matches_the_json(march: None, bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    r = sup.get("/api/reports/calls?start=2026-03-01&end=2026-03-31&group=hour_of_day&format=csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="calls_by_hour_of_day_2026-03-01_2026-03-31.csv"' in r.headers[
        "content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[0] == "时段 hour of day" and "服务水平 service level (%)" in header
    offered = {row[0]: int(row[header.index("呼入 offered")]) for row in rows[1:]}
    assert offered["7"] == 2 and offered["9"] == 3 and offered["合计 total"] == 7
    total = rows[-1]
    assert total[header.index("服务水平 service level (%)")] == "71.43"


def test_xlsx_export(march: None, bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    r = sup.get("/api/reports/agents?start=2026-03-01&end=2026-03-31&format=xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    values = list(ws.values)
    assert values[0][0] == "坐席统计 agents"
    header = list(values[1])
    amy = next(v for v in values[2:] if v[header.index("分机 extension")] == "1001")
    assert amy[header.index("振铃未接 ring-no-answer")] == 2
    sl_col = header.index("服务水平 service level") + 1
    assert ws.cell(row=3, column=sl_col).number_format == "0.00%"


def test_charts_are_svg_with_the_figures(march: None, bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    volume = sup.get("/api/reports/charts/volume.svg?start=2026-03-01&end=2026-03-31")
    assert volume.headers["content-type"] == "image/svg+xml"
    assert volume.text.count('class="bar"') == 24
    assert 'data-label="9" data-value="3"' in volume.text
    rings = sup.get("/api/reports/charts/rings.svg?start=2026-03-01&end=2026-03-31").text
    assert 'data-label="3" data-value="3"' in rings and "#2a7" in rings
    trend = sup.get("/api/reports/charts/service-level.svg?start=2026-03-01&end=2026-03-31")
    assert trend.text.count('class="point"') == 3  # the three days with ring-answered calls


def test_bad_periods_name_the_field(bearer) -> None:  # type: ignore[no-untyped-def]
    sup = bearer("sup")
    r = sup.get("/api/reports/calls?start=2026-03-31&end=2026-03-01")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "end"
    r = sup.get("/api/reports/calls?start=1900-01-01")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "start"
    r = sup.get("/api/reports/calls?start=2020-01-01&end=2026-01-01")
    assert r.status_code == 422 and "at most" in r.json()["message"]
    r = sup.get("/api/reports/calls?group=fortnight")
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "group"


def test_default_period_is_today(bearer, clock) -> None:  # type: ignore[no-untyped-def]
    body = bearer("sup").get("/api/reports/calls").json()
    assert body["start"] == body["end"] == "2026-03-02"
