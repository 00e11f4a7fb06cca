"""Headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a real server:
a supervisor opens a report of known figures with its chart, exports it, and the wallboard.
Screenshots of each page go to test-artifacts/. The agent's side, with a call placed through
pbxsim and the whole of hotline, is tests/e2e/test_web_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hotline.bus import EventBus
from hotline.db.models import Customer
from hotline.settings import Settings
from hotline.web.app import create_app
from hotline.web.services import WebServices
from tests.conftest import REPO
from tests.factories import TEST_PASSWORD
from tests.reports.test_call_figures import build_march
from tests.web.conftest import Clock
from tests.web.helpers import RecordingAgentControl
from tests.web.server import LiveServer

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def site(engine: Engine, sessions: sessionmaker[Session], users: dict[str, int],
         clock: Clock) -> Iterator[tuple[LiveServer, EventBus]]:
    with sessions.begin() as s:
        build_march(s)
        s.add(Customer(phone="+8613800138000", name="王小明", is_member=True, is_vip=True,
                       work_unit="人民医院"))
    bus = EventBus()
    services = WebServices(bus=bus, agent_control=RecordingAgentControl(), clock=clock)
    with LiveServer(create_app(Settings(), engine, services)) as server:
        server.run(bus.start())
        yield server, bus
        server.run(bus.stop())


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("用户名 Username").fill(username)
    page.get_by_label("密码 Password").fill(TEST_PASSWORD)
    shot(page, f"login-{username}")
    page.get_by_role("button", name="登录 Log in").click()


def test_supervisor_opens_a_report_with_its_chart(browser: Browser, site) -> None:  # type: ignore[no-untyped-def]
    server, _ = site
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    log_in(page, server.url, "sup")
    expect(page).to_have_url(f"{server.url}/reports")
    page.goto(f"{server.url}/reports?report=calls&start=2026-03-01&end=2026-03-31"
              "&group=hour_of_day")
    expect(page.locator("#report-title")).to_contain_text("inbound calls by hour of day")
    chart = page.locator("img.chart").first
    expect(chart).to_be_visible()
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    expect(page.locator("#report-table tfoot")).to_contain_text("71.4%")
    shot(page, "report-calls")
    page.goto(f"{server.url}/reports?report=rings&start=2026-03-01&end=2026-03-31")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    shot(page, "report-rings")
    with page.expect_download() as download:
        page.get_by_role("link", name="XLSX").click()
    assert download.value.suggested_filename == "ring_at_answer_2026-03-01_2026-03-31.xlsx"
    page.goto(f"{server.url}/wallboard")
    expect(page.locator("#wb-agents tbody tr")).to_have_count(3)
    shot(page, "wallboard")
    page.close()
