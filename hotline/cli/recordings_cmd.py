from __future__ import annotations

import datetime as dt
import sys

import click

from hotline.cli.context import CliContext


@click.group("recordings")
def command() -> None:
    """Kept recordings of flagged calls: check their checksums, purge expired ones."""


def _parts(obj: CliContext):  # type: ignore[no-untyped-def]
    from hotline.db.session import session_factory
    from recordings.store import RecordingStore

    cfg = obj.settings.recordings
    return session_factory(obj.engine), RecordingStore(cfg.store_dir)


@command.command("verify")
@click.option("--quiet", is_flag=True, help="Print problems only, not the summary line.")
@click.pass_obj
def verify(obj: CliContext, quiet: bool) -> None:
    """Re-check every kept recording's SHA-256 and report missing or altered files.

    Exits 1 when any recording is missing, altered, or has a storage key outside the store;
    files in the store that no recording row knows are listed but do not fail the check.
    """
    from recordings.verify import verify_all

    sessions, store = _parts(obj)
    report = verify_all(sessions, store, now=dt.datetime.now(dt.UTC))
    for p in report.problems:
        click.echo(f"{p.kind.upper()}: recording #{p.recording_id} {p.storage_key}"
                   + (f" ({p.detail})" if p.detail else ""))
    for key in report.unknown_files:
        click.echo(f"UNKNOWN FILE: {key} (no recording row)")
    if not quiet:
        state = "OK" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"checked {report.checked} recording(s) in {store.root}: {state}")
    if not report.ok:
        sys.exit(1)


@command.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.pass_obj
def purge(obj: CliContext, dry_run: bool) -> None:
    """Delete recordings past their retention (retain_until); legal holds are never deleted.

    Each deletion is written to the audit log. The scheduler runs the same purge daily.
    """
    from recordings.retention import purge_expired
    from recordings.transcode import TranscodeCache

    sessions, store = _parts(obj)
    cfg = obj.settings.recordings
    report = purge_expired(
        sessions, store, now=dt.datetime.now(dt.UTC), dry_run=dry_run,
        cache=TranscodeCache(cfg.cache_dir, cfg.cache_max_mb * 1024 * 1024),
    )
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} {len(report.purged)} recording(s)"
               + (f": {', '.join(f'#{i}' for i in report.purged)}" if report.purged else ""))
    if report.file_missing:
        click.echo("already missing on disk (marked purged): "
                   + ", ".join(f"#{i}" for i in report.file_missing))
    if report.held:
        click.echo(f"kept {report.held} recording(s) past retention on legal hold")
    for rec_id, why in report.failed:
        click.echo(f"FAILED: recording #{rec_id}: {why}", err=True)
    if report.failed:
        sys.exit(1)
