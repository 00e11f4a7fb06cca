"""Logging for every hotline process, with secrets scrubbed from every record.

The filter sits on the root handler, so a secret that reaches a log line by any path (an AMI
Login echoed in a debug dump, a database URL in an exception) is replaced by ``***``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

REDACTED = "***"


class SecretRedactor(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


QUIET_LIBRARIES = ("alembic.runtime.plugins", "apscheduler.scheduler", "apscheduler.executors")


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hotline", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._hotline = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretRedactor(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that narrate their own bookkeeping at INFO (alembic's plugin set-up, every
    # APScheduler job added or run): an operator reading hotline's log wants hotline's lines.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
