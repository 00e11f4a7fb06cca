"""Every report table exports to CSV and XLSX (openpyxl), with bilingual headers.

CSV is UTF-8 with a byte-order mark so that Excel opens Chinese text correctly; rates are
written in percent units (``95.12``, header marked ``%``). XLSX keeps rates as fractions with
a percent number format, so formulas over them work.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from hotline.reports.tables import Column, Table

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOTAL_LABEL = "合计 total"


def total_row(table: Table) -> dict[str, Any] | None:
    """The summary as a last row when it has the table's figures (e.g. calls by day)."""
    figures = [c.key for c in table.columns[1:]]
    if figures and all(k in table.summary for k in figures):
        return {table.columns[0].key: TOTAL_LABEL, **table.summary}
    return None


def _csv_value(col: Column, value: Any) -> Any:
    if value is None:
        return ""
    if col.kind == "percent":
        return f"{float(value) * 100:.2f}"
    return value


def _csv_header(col: Column) -> str:
    return f"{col.label} (%)" if col.kind == "percent" else col.label


def to_csv(tables: Table | Sequence[Table]) -> bytes:
    tables = [tables] if isinstance(tables, Table) else list(tables)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for i, table in enumerate(tables):
        if len(tables) > 1:
            if i:
                writer.writerow([])
            writer.writerow([table.title])
        writer.writerow([_csv_header(c) for c in table.columns])
        rows = list(table.rows)
        total = total_row(table)
        if total:
            rows.append(total)
        for row in rows:
            writer.writerow([_csv_value(c, row.get(c.key)) for c in table.columns])
        if not total and table.summary:
            writer.writerow([])
            for key, value in table.summary.items():
                writer.writerow([key, value])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


_FORMATS = {"percent": "0.00%", "seconds": "0.0", "float": "0.00", "int": "0"}


def _sheet_name(title: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in '[]:*?/\\')[:28] or "report"
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name[:25]} {n}", n + 1
    used.add(candidate)
    return candidate


def to_xlsx(tables: Table | Sequence[Table]) -> bytes:
    tables = [tables] if isinstance(tables, Table) else list(tables)
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    bold = Font(bold=True)
    for table in tables:
        ws = wb.create_sheet(_sheet_name(table.zh, used))
        ws.append([table.title])
        ws["A1"].font = bold
        ws.append([c.label for c in table.columns])
        for cell in ws[2]:
            cell.font = bold
        rows = list(table.rows)
        total = total_row(table)
        if total:
            rows.append(total)
        for row in rows:
            ws.append([row.get(c.key) for c in table.columns])
            for col_idx, col in enumerate(table.columns, start=1):
                if col.kind in _FORMATS:
                    ws.cell(row=ws.max_row, column=col_idx).number_format = _FORMATS[col.kind]
        if not total and table.summary:
            ws.append([])
            for key, value in table.summary.items():
                ws.append([key, value])
        for note in table.notes:
            ws.append([note])
        for idx, col in enumerate(table.columns, start=1):
            ws.column_dimensions[ws.cell(row=2, column=idx).column_letter].width = max(
                10, min(40, len(col.label) + 2)
            )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
