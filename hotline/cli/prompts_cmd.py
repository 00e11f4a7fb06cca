"""``hotline prompts``: the IVR's prompt catalogue and the sound files made from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hotline.cli.context import CliContext

if TYPE_CHECKING:
    from ivr.prompts.catalogue import Catalogue


def _catalogue(obj: CliContext) -> Catalogue:
    from ivr.flows.loader import display_path
    from ivr.prompts.catalogue import load_catalogue
    from ivr.yamldoc import InvalidFileError

    path = obj.settings.ivr.prompts_file
    try:
        return load_catalogue(path, display_path(path))
    except InvalidFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        raise SystemExit(1) from None


@click.group("prompts")
def command() -> None:
    """The IVR prompt catalogue (callflows/prompts.yaml) and its sound files."""


@command.command("build")
@click.option("--force", is_flag=True, help="Render every prompt again, changed or not.")
@click.option("--only", "only", multiple=True, metavar="NAME", help="Build only this prompt (repeatable).")
@click.option("--language", "languages", multiple=True, type=click.Choice(["zh-CN", "en"]),
              help="Build only this language (repeatable; default: both).")
@click.pass_obj
def build(obj: CliContext, force: bool, only: tuple[str, ...], languages: tuple[str, ...]) -> None:
    """Render the prompts into Asterisk's format (8 kHz, 16-bit, mono WAV) under the sounds
    folder (ivr.sounds_dir), with espeak-ng (Mandarin voice for zh-CN).

    Only prompts whose text, voice or recording changed (or whose file is missing or was
    altered) are rendered again; manifest.json in the sounds folder keeps the text hash and
    the audio checksum of each. A recording at <ivr.overrides_dir>/<language>/<name>.<ext>
    (WAV, MP3, anything ffmpeg reads) replaces the synthetic voice; an unreadable or silent
    file is refused with its name and the previous sound is kept. Exit status 1 if any prompt
    failed.
    """
    from ivr.prompts.build import build_configured_prompts

    settings = obj.settings
    report = build_configured_prompts(settings, _catalogue(obj), languages=languages or None,
                                      only=only or None, force=force)
    for key in report.built:
        click.echo(f"built      {key}")
    for key in report.removed:
        click.echo(f"removed    {key}")
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(
        f"{len(report.built)} built, {len(report.unchanged)} unchanged, {len(report.removed)} removed, "
        f"{len(report.errors)} failed -> {settings.ivr.sounds_dir}"
    )
    if not report.ok:
        raise SystemExit(1)


@command.command("list")
@click.option("--language", default="zh-CN", type=click.Choice(["zh-CN", "en"]), show_default=True,
              help="Which text to show.")
@click.pass_obj
def list_(obj: CliContext, language: str) -> None:
    """List the prompts: name, service-rule script (S1-S16), whether its sound is built, text."""
    from ivr.prompts.build import sound_file

    settings = obj.settings
    catalogue = _catalogue(obj)
    for name, entry in catalogue.prompts.items():
        built = "built  " if sound_file(settings.ivr.sounds_dir, language, name).is_file() else "missing"
        text = catalogue.text(name, language, settings.hours)
        click.echo(f"{name:28} {entry.script or '':4} {built} {text}")

