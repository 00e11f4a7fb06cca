"""Benchmark: supervisor reports over a year of calls (default 1,000,000), on SQLite and on
PostgreSQL.

Times the monthly by-hour call-volume report (hour of day over a month, and the month's 720
hourly buckets) and the per-agent report for a month (and for the whole year), each beside a
plain ``SELECT count(*)`` over the same rows in the same run: the floor no report can beat.
Target: under 0.5 s per report.

    .venv/bin/python bench/bench_reports.py                    # both databases, 1,000,000 calls
    .venv/bin/python bench/bench_reports.py --db sqlite --calls 200000

PostgreSQL is a throwaway server started on loopback (hotline.devtools.pgserver), or the one
in HOTLINE_BENCH_DATABASE_URL (a superuser URL; a scratch database is created in it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, func, make_url, select, text  # noqa: E402

from hotline.accounts.passwords import hash_password  # noqa: E402
from hotline.db import migrate  # noqa: E402
from hotline.db.models import Call  # noqa: E402
from hotline.db.session import make_engine, session_factory  # noqa: E402
from hotline.reports.agents import agent_figures  # noqa: E402
from hotline.reports.calls import CallGrouping, call_figures  # noqa: E402
from hotline.reports.context import ReportContext  # noqa: E402
from hotline.reports.period import Period  # noqa: E402
from hotline.settings import Settings  # noqa: E402

YEAR = 2025
AGENTS = 40
CHUNK = 50_000
TZ_OFFSET = dt.timedelta(hours=8)  # calls are generated in Shanghai local time
# Share of calls per local hour of day: business hours 08-20 carry most of them.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 10, 60, 90, 100, 95, 60, 55, 90, 100, 95, 85, 70, 50,
                20, 10, 5, 2]
CATEGORIES = ["inquiry"] * 6 + ["complaint", "complaint", "repair", "suggestion", "emergency",
                                "other"]
QUEUES = ["general", "general", "general", "complaints", "vip"]


def _ts(moment: dt.datetime, dialect: str) -> Any:
    """How the column stores a UTC time: SQLite as SQLAlchemy's text, PostgreSQL as is."""
    if dialect == "sqlite":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def arrivals(n: int, rng: random.Random) -> list[dt.datetime]:
    """Arrival times over the year, in order: the bridge stores calls as they come, so rows
    of one month sit together in the table, as they would in production."""
    start_local = dt.datetime(YEAR, 1, 1)
    hours = list(range(24))
    found = []
    for _ in range(n):
        local = start_local + dt.timedelta(days=rng.randrange(365),
                                           hours=rng.choices(hours, HOUR_WEIGHTS)[0],
                                           seconds=rng.randrange(3600),
                                           microseconds=rng.randrange(1_000_000))
        found.append((local - TZ_OFFSET).replace(tzinfo=dt.UTC))
    found.sort()
    return found


def generate(n: int, seed: int = 7) -> Iterator[tuple[list[tuple], list[tuple]]]:  # type: ignore[type-arg]
    """Calls (and their agent legs) in chunks; times as aware UTC datetimes."""
    rng = random.Random(seed)
    calls: list[tuple] = []  # type: ignore[type-arg]
    legs: list[tuple] = []  # type: ignore[type-arg]
    leg_id = 0
    for call_id, arrived in enumerate(arrivals(n, rng), start=1):
        ringing = arrived + dt.timedelta(seconds=1)
        roll = rng.random()
        rings = rng.choices([2, 3, 4, 5, 6], [2, 85, 8, 3, 2])[0]
        answered = ringing + dt.timedelta(seconds=(rings - 1) * 5 + 0.5)
        agent = rng.randrange(1, AGENTS + 1)
        agent_answered = ended = None
        disposition = "answered"
        answered_by = None
        if roll < 0.85:
            agent_answered = answered + dt.timedelta(seconds=rng.uniform(5, 60))
            ended = agent_answered + dt.timedelta(seconds=rng.expovariate(1 / 180))
            answered_by = agent
        elif roll < 0.93:
            disposition, ended = "abandoned", answered + dt.timedelta(seconds=rng.uniform(5, 90))
        elif roll < 0.97:
            disposition, ended = "missed", answered + dt.timedelta(seconds=30)
        else:
            disposition, ended = "ivr_only", answered + dt.timedelta(seconds=20)
        calls.append((
            call_id, "pbx1", f"{YEAR}.{call_id}", f"{YEAR}.{call_id}", "inbound",
            f"+86138{rng.randrange(10**8):08d}", "12345", rng.choice(CATEGORIES),
            rng.choice(QUEUES), arrived, ringing, answered, agent_answered, ended, rings,
            answered_by, disposition, 16, "Normal Clearing", "caller-hangup", False,
        ))
        if rng.random() < 0.08 or disposition == "missed":  # an agent rang out first
            leg_id += 1
            other = rng.randrange(1, AGENTS + 1)
            legs.append((leg_id, call_id, "pbx1", f"{YEAR}.{call_id}.n", f"PJSIP/{1000 + other}-x",
                         "agent", other, answered, answered, None,
                         answered + dt.timedelta(seconds=25), None, "NOANSWER", 19, "No answer"))
        if answered_by is not None:
            leg_id += 1
            assert agent_answered is not None
            legs.append((leg_id, call_id, "pbx1", f"{YEAR}.{call_id}.a", f"PJSIP/{1000 + agent}-x",
                         "agent", agent, answered, answered, agent_answered, ended,
                         rng.choices([1, 2, 3], [60, 30, 10])[0], "ANSWER", 16, "Normal Clearing"))
        if len(calls) == CHUNK:
            yield calls, legs
            calls, legs = [], []
    if calls:
        yield calls, legs


CALL_COLS = ("id, pbx, linkedid, uniqueid, direction, caller_number, dialled_number, category, "
             "queue, arrived_at, ringing_at, answered_at, agent_answered_at, ended_at, "
             "rings_at_answer, answered_by_agent_id, disposition, hangup_cause, "
             "hangup_cause_text, end_reason, abnormal_end")
LEG_COLS = ("id, call_id, pbx, uniqueid, channel, role, agent_id, created_at, ringing_at, "
            "answered_at, ended_at, rings_at_answer, dial_status, hangup_cause, hangup_cause_text")
CALL_TIMES = (9, 10, 11, 12, 13)
LEG_TIMES = (7, 8, 9, 10)


def _convert(rows: list[tuple], times: tuple[int, ...], dialect: str) -> list[tuple]:  # type: ignore[type-arg]
    if dialect != "sqlite":
        return rows
    out = []
    for row in rows:
        r = list(row)
        for i in times:
            if r[i] is not None:
                r[i] = _ts(r[i], dialect)
        out.append(tuple(r))
    return out


def seed_agents(engine: Engine) -> None:
    pw = hash_password("benchmark-only-password")
    with engine.begin() as conn:
        for i in range(1, AGENTS + 1):
            conn.execute(text("INSERT INTO users (id, username, display_name, role, password_hash,"
                              " active, created_at) VALUES (:id, :u, :u, 'agent', :pw, :t, :c)"),
                         {"id": i, "u": f"agent{i}", "pw": pw, "t": True,
                          "c": _ts(dt.datetime(YEAR, 1, 1, tzinfo=dt.UTC), engine.dialect.name)})
            conn.execute(text("INSERT INTO agents (id, user_id, extension, interface, state, "
                              "auto_answer) VALUES (:id, :id, :e, :i, 'logged_out', :f)"),
                         {"id": i, "e": str(1000 + i), "i": f"PJSIP/{1000 + i}", "f": False})


def load(engine: Engine, n: int) -> float:
    started = time.perf_counter()
    dialect = engine.dialect.name
    seed_agents(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for calls, legs in generate(n):
            if dialect == "sqlite":
                cur.executemany(f"INSERT INTO calls ({CALL_COLS}) VALUES "
                                f"({', '.join('?' * len(calls[0]))})",
                                _convert(calls, CALL_TIMES, dialect))
                cur.executemany(f"INSERT INTO call_legs ({LEG_COLS}) VALUES "
                                f"({', '.join('?' * len(legs[0]))})",
                                _convert(legs, LEG_TIMES, dialect))
            else:
                with cur.copy(f"COPY calls ({CALL_COLS}) FROM STDIN") as copy:
                    for row in calls:
                        copy.write_row(row)
                with cur.copy(f"COPY call_legs ({LEG_COLS}) FROM STDIN") as copy:
                    for row in legs:
                        copy.write_row(row)
            raw.commit()
            print(".", end="", flush=True)
        cur.close()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    print()
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm the cache: every figure is for a database that is in use
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def run(engine: Engine, repeat: int) -> list[tuple[str, float, float]]:
    ctx = ReportContext.from_settings(Settings())
    month = Period.days(dt.date(YEAR, 6, 1), dt.date(YEAR, 6, 30), ctx.tz)
    year = Period.days(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31), ctx.tz)
    sessions = session_factory(engine)
    results = []
    with sessions() as s:
        def count(period: Period) -> Callable[[], Any]:
            return lambda: s.scalar(select(func.count()).select_from(Call).where(
                Call.direction == "inbound",
                Call.arrived_at >= period.start, Call.arrived_at < period.end))

        floor_month, n_month = timed(count(month), repeat)
        floor_year, n_year = timed(count(year), repeat)
        print(f"  rows: {n_month:,} in June, {n_year:,} in the year")
        results.append(("count(*) June (floor)", floor_month, 1.0))
        cases = [
            ("calls by hour of day, June", lambda: call_figures(
                s, month, ctx, CallGrouping.HOUR_OF_DAY), floor_month),
            ("calls by hour, June (720 buckets)", lambda: call_figures(
                s, month, ctx, CallGrouping.HOUR), floor_month),
            ("per-agent report, June", lambda: agent_figures(s, month, ctx), floor_month),
        ]
        year_cases = [
            ("calls by month, year", lambda: call_figures(
                s, year, ctx, CallGrouping.MONTH), floor_year),
            ("per-agent report, year", lambda: agent_figures(s, year, ctx), floor_year),
        ]
        for name, fn, floor in cases:
            seconds, _ = timed(fn, repeat)
            results.append((name, seconds, seconds / floor))
        results.append(("count(*) year (floor)", floor_year, 1.0))
        for name, fn, floor in year_cases:
            seconds, _ = timed(fn, repeat)
            results.append((name, seconds, seconds / floor))
    return results


def report(label: str, results: list[tuple[str, float, float]]) -> None:
    print(f"\n{label}")
    print(f"  {'what':<36} {'median s':>9} {'x floor':>8}  target < 0.5 s")
    for name, seconds, ratio in results:
        if "floor" in name:
            mark = ""
        elif "year" in name:
            mark = "(not in the target)"
        else:
            mark = "ok" if seconds < 0.5 else "SLOW"
        print(f"  {name:<36} {seconds:>9.3f} {ratio:>8.1f}  {mark}")


def bench_sqlite(n: int, repeat: int) -> list[tuple[str, float, float]]:
    path = Path(tempfile.mkdtemp(prefix="hotline-bench-")) / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    print(f"SQLite {path}: loading {n:,} calls", end=" ", flush=True)
    print(f"(loaded in {load(engine, n):.0f} s)")
    try:
        return run(engine, repeat)
    finally:
        engine.dispose()
        path.unlink(missing_ok=True)


def bench_postgres(n: int, repeat: int) -> list[tuple[str, float, float]]:
    admin_url = os.environ.get("HOTLINE_BENCH_DATABASE_URL")
    server = None
    if not admin_url:
        from hotline.devtools.pgserver import PostgresServer

        server = PostgresServer().start()
        admin_url = server.url()
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(admin_url).set(database=name))
    try:
        migrate.upgrade(engine)
        print(f"PostgreSQL: loading {n:,} calls", end=" ", flush=True)
        print(f"(loaded in {load(engine, n):.0f} s)")
        return run(engine, repeat)
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        if server is not None:
            server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        report(f"SQLite, {args.calls:,} calls", bench_sqlite(args.calls, args.repeat))
    if args.db in ("postgresql", "both"):
        report(f"PostgreSQL, {args.calls:,} calls", bench_postgres(args.calls, args.repeat))


if __name__ == "__main__":
    main()
