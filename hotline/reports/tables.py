"""The shape every report returns: named columns and rows of plain values, so one exporter
(CSV, XLSX, JSON) and one HTML template serve them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["text", "int", "float", "seconds", "percent"]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: Kind = "int"

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}"


@dataclass
class Table:
    name: str
    zh: str
    en: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Figures over all rows (e.g. the period's total), shown under the table.
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{self.zh} {self.en}"

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": [
                {"key": c.key, "label": c.label, "zh": c.zh, "en": c.en, "kind": c.kind}
                for c in self.columns
            ],
            "rows": self.rows,
            "summary": self.summary,
            "notes": self.notes,
        }


def ratio(part: float | int | None, whole: float | int | None) -> float | None:
    """``part / whole`` rounded to 4 places, or None when there is nothing to divide by."""
    if not whole or part is None:
        return None
    return round(part / whole, 4)


def rounded(value: Any, places: int = 1) -> float | None:
    return None if value is None else round(float(value), places)
