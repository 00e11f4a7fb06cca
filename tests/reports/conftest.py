from __future__ import annotations

import pytest

from hotline.reports.context import ReportContext
from hotline.settings import Settings


@pytest.fixture
def ctx() -> ReportContext:
    return ReportContext.from_settings(Settings())
