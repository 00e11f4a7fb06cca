"""``hotline backup``: back up the database and the recordings index; list and check backups."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hotline.cli.context import CliContext


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.group("backup", invoke_without_command=True)
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into (default: backup.dir).")
@click.option("--with-audio/--without-audio", default=None,
              help="Copy the recordings' audio files too (default: backup.with_audio); "
                   "without, only their index and checksums are kept.")
@click.option("--no-prune", is_flag=True,
              help="Keep old backups (default: delete those older than backup.keep days).")
@click.pass_context
def command(ctx: click.Context, dest: Path | None, with_audio: bool | None, no_prune: bool) -> None:
    """Make a consistent backup of the database and the recordings index.

    SQLite is copied with its online backup API and PostgreSQL with pg_dump, both consistent
    while hotline keeps writing. The backup goes into a new folder under backup.dir with a
    manifest of checksums; `hotline restore` brings it back. The elected scheduler makes one
    every day at backup.at (rule 9.1).
    """
    if ctx.invoked_subcommand is not None:
        return
    from hotline.backup import BackupError, make_backup

    obj: CliContext = ctx.obj
    try:
        result = make_backup(obj.settings, obj.engine, dest_root=dest, with_audio=with_audio,
                             prune=not no_prune)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    m = result.manifest
    click.echo(
        f"backup written: {result.path}\n"
        f"  {m.database_kind} database {obj.settings.database.display_url()} at schema "
        f"{m.schema_revision or '(none)'}: {m.total_rows} rows in {len(m.table_rows)} tables\n"
        f"  recordings: {m.recordings_rows} row(s), {m.store_files} store file(s) checksummed"
        + ((f", audio copied ({m.audio_linked} unchanged file(s) linked from the previous "
            "backup)") if m.with_audio else ", audio not copied")
        + f"\n  {_size(result.size_bytes)} in {m.seconds:.2f} s"
    )
    if result.pruned:
        click.echo(f"deleted {len(result.pruned)} old backup(s): {', '.join(result.pruned)}")
    for warning in result.warnings:
        click.echo(f"WARNING: {warning}", err=True)


@command.command("list")
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to look in (default: backup.dir).")
@click.pass_obj
def list_(obj: CliContext, dest: Path | None) -> None:
    """List the complete backups, oldest first (the manifests are read, not re-checked)."""
    from hotline.backup import BackupError, list_backups
    from hotline.backup.manifest import read_manifest

    root = (dest or obj.settings.backup.dir).absolute()
    backups = list_backups(root)
    if not backups:
        click.echo(f"no backup in {root}")
        return
    tz = obj.settings.tz
    for b in backups:
        try:
            m = read_manifest(b.path)
        except BackupError as exc:
            click.echo(f"{b.name}  UNREADABLE: {exc}")
            continue
        size = sum(f.size for f in m.files.values())
        click.echo(
            f"{b.name}  {m.created_at.astimezone(tz):%Y-%m-%d %H:%M %Z}  {m.database_kind:<10} "
            f"schema {m.schema_revision or '-':<12} {m.total_rows:>9} rows  "
            f"{m.recordings_rows:>6} recordings{' +audio' if m.with_audio else ''}  {_size(size)}"
        )


@command.command("verify")
@click.argument("backup")
@click.pass_obj
def verify(obj: CliContext, backup: str) -> None:
    """Check every checksum of BACKUP (a folder, its name under backup.dir, or "latest").

    Exits 1 and names the damaged file when anything differs from the manifest.
    """
    from hotline.backup import BackupError, resolve, verify_backup

    try:
        path = resolve(obj.settings.backup.dir.absolute(), backup)
        verified = verify_backup(path)
    except BackupError as exc:
        click.echo(f"BAD: {exc}", err=True)
        sys.exit(1)
    m = verified.manifest
    click.echo(f"OK: {path}: {len(m.files)} file(s)"
               + (f" and {m.recordings_rows} audio file(s)" if m.with_audio else "")
               + " match the manifest")
