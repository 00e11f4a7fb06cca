"""What every command shares: settings loaded once, logging set up with secret redaction."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Engine

from hotline.logging_setup import configure_logging
from hotline.settings import Settings, load_settings


class CliContext:
    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file

    @cached_property
    def settings(self) -> Settings:
        settings = load_settings(self.config_file)
        configure_logging(settings.log_level, settings.secret_values())
        return settings

    @cached_property
    def engine(self) -> Engine:
        from hotline.db.session import engine_from_settings

        return engine_from_settings(self.settings)
