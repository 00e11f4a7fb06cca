"""The web pages in headless Chromium (Debian's, driven by Playwright) against the whole of
hotline: pbxsim places a real call through the IVR and the bridge, the web app is served by
uvicorn in the same process, wired as ``hotline serve`` wires it.

An agent logs in, sees the caller's card appear when the simulated call rings, writes the
consultation record and flags the call abusive (the caller hears the warning) and then
extortion; a supervisor watching the wallboard gets the escalation live, acknowledges it, opens
a report with its chart and plays the kept recording. Screenshots of each page go to
test-artifacts/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import Engine, select

from hotline.db.models import Call, CallFlag, CallNote, Customer, Escalation, Recording
from hotline.db.session import session_factory, transaction
from hotline.domain.enums import RecordingReason
from pbxsim import AgentBehaviour, CallerBehaviour, CallerSpec
from tests.e2e.stack import HOTLINE_NUMBER, REPO, running_stack, web_server
from tests.factories import TEST_PASSWORD, make_user

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
CALLER = "13800138000"


@pytest.fixture
def db_kind() -> str:
    return "sqlite"  # what the pages show does not depend on the database (tests/web)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"e2e-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in(browser: Browser, url: str, username: str) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    # Nothing may come from elsewhere (no CDN): every request must stay on this server.
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url) else None)
    page.outside = outside  # type: ignore[attr-defined]
    await page.goto(f"{url}/login")
    await page.get_by_label("用户名 Username").fill(username)
    await page.get_by_label("密码 Password").fill(TEST_PASSWORD)
    await page.get_by_role("button", name="登录 Log in").click()
    await page.wait_for_url(lambda u: "/login" not in u)
    return page


async def until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {check}"
        await asyncio.sleep(0.1)


async def test_agent_takes_a_simulated_call_and_supervisor_follows(
    tmp_path: Path, engine: Engine, db_url: str, sounds: Path, browser: Browser
) -> None:
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        make_user(s, "sup", "supervisor")
        s.add(Customer(phone=f"+86{CALLER}", name="王小明", is_member=True, work_unit="人民医院"))
    agents = {"1001": AgentBehaviour(answer_on_ring=2, talk_time=None)}
    async with (
        running_stack(tmp_path, engine, db_url, sounds, agents,
                      recordings={"sweep_seconds": 0.5, "settle_seconds": 0.5}) as stack,
        web_server(stack) as url,
    ):
        agent = await log_in(browser, url, "agent1001")
        await expect(agent).to_have_url(f"{url}/desk")
        await expect(agent.locator("body")).to_have_attribute("data-live", "on")
        await expect(agent.locator("#agent-state")).to_have_text("ready")
        sup = await log_in(browser, url, "sup")
        await sup.goto(f"{url}/wallboard")
        await expect(sup.locator("body")).to_have_attribute("data-live", "on")

        call = await stack.sim.place_call(CallerSpec(number=CALLER, dnid=HOTLINE_NUMBER,
                                                     behaviour=CallerBehaviour(digits=["2"])))
        card = agent.locator("#card-body")
        await expect(card).to_contain_text("王小明", timeout=15_000)
        await expect(card).to_contain_text("会员 member")
        await expect(agent.locator("#flag-call")).to_contain_text("complaint")
        await expect(agent.locator("#agent-state")).to_have_text("talking")
        await shot(agent, "desk-call")

        await agent.locator("#note-form textarea[name=content]").fill("客户投诉送水迟到,情绪激动。")
        await expect(agent.locator("#note-form select[name=category]")).to_have_value("complaint")
        await agent.locator("#note-form").get_by_role("button", name="保存 Save").click()
        await expect(agent.locator("#form-message")).to_contain_text("已保存 Saved #")
        await expect(card).to_contain_text("记录 Notes (1)")
        # A refused form names the field, and keeps what was typed.
        await agent.locator(".tabs button[data-tab=case]").click()
        case = agent.locator("#case-form")
        await case.locator("input[name=occurred_at]").fill(f"{dt.date.today()}T09:30")
        await case.locator("input[name=place]").fill("东门")
        await case.locator("input[name=person]").fill("送水员")
        await case.locator("textarea[name=event]").fill("迟到")
        await case.locator("input[name=contact_phone]").fill("12")
        await case.get_by_role("button").click()
        await expect(agent.locator("#form-message")).to_contain_text("contact_phone")
        await expect(case.locator("input[name=place]")).to_have_value("东门")

        await agent.get_by_role("button", name="辱骂 Abusive").click()
        await expect(agent.locator("#flag-message")).to_contain_text("civil-language warning")
        await shot(agent, "desk-flagged-abusive")
        await agent.locator("#flag-text").fill("要求赔偿十万,否则曝光")
        await agent.get_by_role("button", name="敲诈勒索 Extortion").click()
        await expect(agent.locator("#flag-message")).to_contain_text("escalated #")

        escalation = sup.locator("#alerts .escalation")
        await expect(escalation).to_contain_text(f"pbx1:{call.record.linkedid}")
        await expect(escalation).to_contain_text("要求赔偿十万")
        await sup.wait_for_timeout(400)  # the wallboard's debounced refresh
        await shot(sup, "wallboard-escalation")

        call.hang_up()
        truth = await asyncio.wait_for(call.ended, 15)
        assert truth["answered_by"] == "1001"
        # The abusive flag really sent the caller to the warning and back to the agent.
        assert any(r.endswith("->hotline-warning,warn") for r in truth["redirects"]), truth

        def stored() -> bool:
            with sessions() as s:
                return s.scalar(select(Recording.id)) is not None

        await until(stored)
        await stack.runtime.bridge.writer.flush()  # type: ignore[attr-defined]
        with sessions() as s:
            row = s.scalars(select(Call)).one()
            note = s.scalars(select(CallNote)).one()
            flags = s.scalars(select(CallFlag).order_by(CallFlag.id)).all()
            rec = s.scalars(select(Recording)).one()
            esc = s.scalars(select(Escalation)).one()
        assert note.call_id == row.id and note.category == "complaint"
        assert [f.reason for f in flags] == [RecordingReason.ABUSIVE, RecordingReason.EXTORTION]
        assert all(f.call_id == row.id for f in flags)
        assert rec.call_id == row.id and rec.reason is RecordingReason.EXTORTION
        assert rec.legal_hold
        assert esc.call_id == row.id

        await escalation.get_by_role("button", name="确认处理 Acknowledge").click()
        await expect(escalation).to_contain_text("已由 sup 确认 acknowledged")

        today = dt.datetime.now(stack.settings.tz).date()
        await sup.goto(f"{url}/reports?report=calls&start={today}&end={today}&group=hour")
        await expect(sup.locator("#report-title")).to_be_visible()
        await sup.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        await expect(sup.locator("#report-table tfoot td").nth(1)).to_have_text("1")
        await shot(sup, "report-calls")

        await sup.goto(f"{url}/recordings")
        player = sup.locator(f"#recording-{rec.id} audio")
        await expect(sup.locator(f"#recording-{rec.id}")).to_contain_text("legal hold")
        await player.evaluate("a => a.play()")
        await sup.wait_for_function(
            f"() => document.querySelector('#recording-{rec.id} audio').currentTime > 0.2",
            timeout=15_000)
        duration = await player.evaluate("a => a.duration")
        assert abs(duration - (rec.duration_seconds or 0)) < 0.5, (duration, rec.duration_seconds)
        await shot(sup, "recordings")

        await sup.goto(f"{url}/api/docs")
        await expect(sup.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15_000)
        await shot(sup, "api-docs")
        assert agent.outside == [] and sup.outside == []  # type: ignore[attr-defined]
        await agent.close()
        await sup.close()
