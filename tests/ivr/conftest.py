"""IVR test setup: compressed ring time (P = 0.5 s), the repository's flows and prompts, a
FastAGI server on a free port, and frozen clocks on days the Chinese calendar makes special."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.settings import Settings
from ivr.flows.loader import FlowSet, load_flows
from ivr.prompts.catalogue import Catalogue, load_catalogue
from ivr.server import FastAgiServer
from ivr.service import IvrApplication, IvrData, call_services, load_ivr_data
from ivr.store import CallStore
from tests.ivr.fakes import FakeRouter, MemoryStore

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
# An ordinary Tuesday morning: open.
WEEKDAY_MORNING = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
# National Day, a public holiday (Thursday): closed all day.
NATIONAL_DAY = dt.datetime(2026, 10, 1, 10, 0, tzinfo=SHANGHAI)
# An adjusted working Saturday (调休) before the Spring Festival: open in business hours.
WORKING_SATURDAY = dt.datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI)
# The Sunday after it, an ordinary weekend day: closed.
ORDINARY_SUNDAY = dt.datetime(2026, 2, 15, 10, 0, tzinfo=SHANGHAI)

CALLER = "13812345678"
CALLER_E164 = "+8613812345678"


def frozen(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment.astimezone(dt.UTC)


def ivr_settings(tmp_path: Path, **ivr: object) -> Settings:
    return Settings(
        ring={"on_seconds": 0.1, "off_seconds": 0.4},
        ivr={
            "flows_dir": REPO / "callflows",
            "prompts_file": REPO / "callflows" / "prompts.yaml",
            "sounds_dir": tmp_path / "sounds",
            "overrides_dir": tmp_path / "recorded",
            "hangup_grace": 0.15,
            **ivr,
        },
        recordings={"spool_dir": tmp_path / "spool"},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return ivr_settings(tmp_path)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue(REPO / "callflows" / "prompts.yaml")


@pytest.fixture(scope="session")
def default_data() -> IvrData:
    return load_ivr_data(ivr_settings(Path("/nonexistent")))


def flows_from_yaml(tmp_path: Path, catalogue: Catalogue, text: str, name: str = "test.yaml") -> FlowSet:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_flows([path], prompt_exists=catalogue.__contains__)


StartIvr = Callable[..., Awaitable[FastAgiServer]]


@pytest.fixture
async def start_ivr(settings: Settings, default_data: IvrData) -> AsyncIterator[StartIvr]:
    """Start a FastAGI server: ``await start_ivr(router=..., store=..., clock=..., flows=...)``."""
    servers: list[FastAgiServer] = []

    async def start(
        *,
        router: FakeRouter | None = None,
        store: CallStore | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        flows: FlowSet | None = None,
        settings_: Settings | None = None,
    ) -> FastAgiServer:
        cfg = settings_ or settings
        services = call_services(cfg, router=router or FakeRouter(), store=store if store is not None else MemoryStore(), clock=clock or frozen(WEEKDAY_MORNING))
        app = IvrApplication(flows or default_data.flows, services, language=cfg.ivr.language)
        server = FastAgiServer(app, host="127.0.0.1", port=0, env_timeout=1.0, hangup_grace=cfg.ivr.hangup_grace)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(grace=2.0)
