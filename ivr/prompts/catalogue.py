"""The prompt catalogue: every sentence the IVR can say, keyed by name, zh-CN with en beside.

Texts may hold one placeholder, ``{hours}``, filled from the hours settings when the prompt
is rendered (so the after-hours notice follows a change of hours, and the build notices the
change through the text hash).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from hotline.settings import HoursSettings
from ivr.flows.schema import PROMPT_NAME
from ivr.yamldoc import InvalidFileError, Problem, YamlDoc, load_yaml, validation_problems

LANGUAGES = ("zh-CN", "en")
PLACEHOLDERS = ("hours",)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class PromptEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    zh_cn: Text = Field(alias="zh-CN")
    en: Text
    # The service-rules script this text is (S1..S16), and where the rule comes from.
    script: Annotated[str, StringConstraints(pattern=r"^S([1-9]|1[0-6])$")] | None = None
    source: str = ""
    note: str = ""

    @field_validator("zh_cn", "en")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        for name in _PLACEHOLDER.findall(value):
            if name not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}} (allowed: {{hours}})")
        return value

    def text(self, language: str) -> str:
        return self.zh_cn if language == "zh-CN" else self.en


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts: dict[Annotated[str, StringConstraints(pattern=PROMPT_NAME)], PromptEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Catalogue:
    file: str
    prompts: dict[str, PromptEntry]

    def __contains__(self, name: object) -> bool:
        return name in self.prompts

    def names(self) -> list[str]:
        return list(self.prompts)

    def text(self, name: str, language: str, hours: HoursSettings) -> str:
        """The text to speak, placeholders filled."""
        raw = self.prompts[name].text(language)
        if "{hours}" in raw:
            raw = raw.replace("{hours}", describe_hours(hours, language))
        return raw

    def by_script(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, entry in self.prompts.items():
            if entry.script:
                found.setdefault(entry.script, []).append(name)
        return found


def _clock(t: dt.time, language: str) -> str:
    if language == "zh-CN":
        return f"{t.hour}点" + (f"{t.minute}分" if t.minute else "")
    return f"{t.hour}:{t.minute:02d}"


def describe_hours(hours: HoursSettings, language: str) -> str:
    """Business hours in words: ``8点至12点、14点至20点`` / ``8:00 to 12:00 and 14:00 to 20:00``."""
    spans = [(hours.open, hours.close)]
    if hours.rest_start is not None and hours.rest_end is not None:
        spans = [(hours.open, hours.rest_start), (hours.rest_end, hours.close)]
    spans = [(a, b) for a, b in spans if b > a]
    if language == "zh-CN":
        return "、".join(f"{_clock(a, language)}至{_clock(b, language)}" for a, b in spans)
    return " and ".join(f"{_clock(a, language)} to {_clock(b, language)}" for a, b in spans)


def _describe(loc: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    if len(loc) >= 2 and loc[0] == "prompts":
        return f"prompt {loc[1]!r}: ", loc[2:]
    return "", loc


def parse_catalogue(doc: YamlDoc) -> tuple[Catalogue | None, list[Problem]]:
    if not isinstance(doc.data, dict):
        return None, [doc.problem((), "a prompt catalogue must be a mapping with a 'prompts' key")]
    try:
        parsed = _CatalogueFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, validation_problems(doc, exc, _describe)
    return Catalogue(doc.file, dict(parsed.prompts)), []


def load_catalogue(path: Path, display: str | None = None) -> Catalogue:
    doc, problems = load_yaml(path, display)
    catalogue = None
    if doc is not None and not problems:
        catalogue, more = parse_catalogue(doc)
        problems += more
    if problems or catalogue is None:
        raise InvalidFileError(problems)
    return catalogue
