"""The scripted phrases S1-S16 an agent says at each moment of a call (service-rules.md §2),
Mandarin first with English beside.

The words come from the IVR's prompt catalogue (``ivr.prompts_file``, normally
``callflows/prompts.yaml``), so what an agent reads on the desk and what the IVR plays are one
text: correcting a phrase there corrects both. Only the order of the moments and their labels
live here, because they are about the desk's layout, not about what is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hotline.settings import HoursSettings
from ivr.prompts.catalogue import Catalogue, load_catalogue
from ivr.yamldoc import InvalidFileError


@dataclass(frozen=True)
class Script:
    id: str
    moment: str
    moment_zh: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    source: str


# The desk lists the scripts in the order a call meets them, not by number.
MOMENTS: tuple[tuple[str, str, str], ...] = (
    ("S1", "greeting", "接通问候(必须严格执行)"),
    ("S2", "silent line", "无应答"),
    ("S4", "hold", "请客户稍等"),
    ("S3", "back from hold", "查询后回到线路"),
    ("S7", "clarify", "明确问题"),
    ("S11", "did not catch", "没听清几个字"),
    ("S12", "did not hear", "完全没听清"),
    ("S8", "apology", "客户抱怨时致歉"),
    ("S9", "caller curses", "客户破口大骂时"),
    ("S5", "caller apologises", "客户为失礼道歉"),
    ("S10", "suggestion", "客户提建议"),
    ("S6", "privacy refusal", "拒绝查询他人信息"),
    ("S15", "warning", "无聊(粗俗)电话警告"),
    ("S13", "wrap-up", "业务基本完成"),
    ("S14", "idle chatter", "受理完业务被纠缠"),
    ("S16", "closing", "结束通话"),
)


class ScriptsUnavailable(ValueError):
    """The prompt catalogue cannot give the desk its scripts (missing file, bad YAML, a script
    without a prompt); the message names the file and what is wrong."""


def scripts_from(catalogue: Catalogue, hours: HoursSettings) -> tuple[Script, ...]:
    by_script = catalogue.by_script()
    missing = [sid for sid, _, _ in MOMENTS if sid not in by_script]
    if missing:
        raise ScriptsUnavailable(
            f"{catalogue.file}: no prompt is marked with script {', '.join(missing)}; the "
            "agent desk shows every script S1-S16 from this catalogue"
        )
    out = []
    for sid, moment, moment_zh in MOMENTS:
        names = by_script[sid]
        out.append(Script(
            id=sid, moment=moment, moment_zh=moment_zh,
            zh=tuple(catalogue.text(n, "zh-CN", hours) for n in names),
            en=tuple(catalogue.text(n, "en", hours) for n in names),
            source=catalogue.prompts[names[0]].source,
        ))
    return tuple(out)


def load_scripts(path: Path, hours: HoursSettings) -> tuple[Script, ...]:
    try:
        catalogue = load_catalogue(path)
    except InvalidFileError as exc:
        raise ScriptsUnavailable(f"ivr.prompts_file: {exc}") from None
    except OSError as exc:
        raise ScriptsUnavailable(f"ivr.prompts_file: cannot read {path}: {exc}") from None
    return scripts_from(catalogue, hours)
