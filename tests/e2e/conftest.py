"""End-to-end fixtures: prompts rendered once per test session (espeak-ng), shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.settings import HoursSettings
from ivr.prompts.build import build_prompts
from ivr.prompts.catalogue import LANGUAGES, load_catalogue
from tests.e2e.stack import REPO


@pytest.fixture(scope="session")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sounds")
    report = build_prompts(
        load_catalogue(REPO / "callflows" / "prompts.yaml"),
        sounds_dir=out,
        overrides_dir=REPO / "callflows" / "recorded",
        hours=HoursSettings(),
        voices={"zh-CN": "cmn-latn-pinyin", "en": "en-us"},
        languages=LANGUAGES,
    )
    assert not report.errors, report.errors
    return out
