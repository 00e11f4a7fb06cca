"""The error every service raises for input it refuses: a list of (field, reason)."""

from __future__ import annotations

from pydantic import ValidationError


class InvalidInput(ValueError):
    """Input refused with the fields at fault; ``str()`` reads ``field: reason; ...``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))

    @classmethod
    def single(cls, field: str, reason: str) -> InvalidInput:
        return cls([(field, reason)])

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidInput:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "body"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append((field, msg))
        return cls(problems)
