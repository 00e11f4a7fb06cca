"""``hotline restore``: bring a backup back into an empty database."""

from __future__ import annotations

import click

from hotline.cli.context import CliContext


@click.command("restore")
@click.argument("backup")
@click.option("--force", is_flag=True,
              help="Replace a database that holds rows (everything in it is lost) and "
                   "recording files that differ from the backup's.")
@click.pass_obj
def command(obj: CliContext, backup: str, force: bool) -> None:
    """Restore BACKUP (a folder, its name under backup.dir, or "latest") into the configured
    database, which must be empty.

    Every checksum is checked first and nothing is changed when one fails, when the database
    holds rows (unless --force), or when the backup is of the other database kind. Recording
    files missing from the store are put back when the backup has their audio. Stop hotline
    before restoring.
    """
    from hotline.backup import BackupError, resolve, restore_backup

    settings = obj.settings
    try:
        path = resolve(settings.backup.dir.absolute(), backup)
        result = restore_backup(settings, path, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    m = result.manifest
    filled = {t: n for t, n in result.table_rows.items() if n and t != "alembic_version"}
    click.echo(
        f"checked {path}: made {m.created_at.astimezone(settings.tz):%Y-%m-%d %H:%M %Z} by "
        f"hotline {m.hotline_version}; every checksum matches\n"
        f"restored {m.database_kind} database {result.database} at schema "
        f"{m.schema_revision or '(none)'}: {m.total_rows} rows in {len(result.table_rows)} tables"
    )
    for table, n in sorted(filled.items()):
        click.echo(f"  {table:<24} {n:>9}")
    click.echo(
        f"recordings: {m.recordings_rows} row(s); files: {result.files_restored} restored from "
        f"the backup, {result.files_in_place} already in place, {len(result.files_missing)} "
        f"missing ({result.seconds:.2f} s)"
    )
    for f in result.files_missing[:20]:
        click.echo(f"MISSING: recording #{f.recording_id} {f.key} (not in the store, no audio "
                   "in the backup)", err=True)
    for f in result.conflicts_kept[:20]:
        click.echo(f"KEPT: recording #{f.recording_id} {f.key} differs from the backup's "
                   "checksum; the backup has no audio to replace it", err=True)
    if result.needs_upgrade:
        click.echo(f"the backup's schema is {m.schema_revision}; this hotline's is "
                   f"{result.head_revision}: run `hotline db upgrade` (hotline serve does it)")
