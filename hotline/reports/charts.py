"""Server-rendered SVG charts: no JavaScript library, no build step, printable.

Two shapes cover what supervisors look at: bars (call volume by hour, ring-at-answer
histogram) and a line over a target band (service-level trend).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 36, 48


TICKS = 4  # gridlines above zero


def _nice_max(value: float) -> float:
    """The smallest 1-2-5 step times TICKS that holds ``value``, so every gridline is a
    round number."""
    step = 1.0
    while step * TICKS < value:
        for factor in (2, 2.5, 2):  # 1, 2, 5, 10, 20, 50, ...
            step *= factor
            if step * TICKS >= value:
                break
    return step * TICKS


def _frame(title: str, y_max: float, y_format: str, body: list[str], label: str) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(label)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i in range(TICKS + 1):
        value = y_max * i / TICKS
        y = TOP + plot_h - plot_h * i / TICKS
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(y_format.format(value))}</text>")
    parts += body
    parts.append("</svg>")
    return "\n".join(parts)


def _x_labels(labels: Sequence[object], xs: list[float]) -> list[str]:
    """Every n-th label, so that labels of this length do not overlap."""
    widest = max((len(str(label)) for label in labels), default=1) * 6.5 + 8
    fits = max(1, int((WIDTH - LEFT - RIGHT) // widest))
    every = max(1, -(-len(labels) // fits))
    out = []
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if i % every == 0:
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                       f"{escape(str(label))}</text>")
    return out


def bar_chart(
    title: str, labels: Sequence[object], values: Sequence[float | int | None],
    *, colors: Sequence[str] | None = None,
) -> str:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_max = _nice_max(max([float(v or 0) for v in values] + [0]))
    n = max(len(values), 1)
    slot = plot_w / n
    body, xs = [], []
    for i, value in enumerate(values):
        h = plot_h * float(value or 0) / y_max
        x = LEFT + i * slot + slot * 0.1
        xs.append(LEFT + i * slot + slot / 2)
        color = colors[i] if colors else "#3b73b9"
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{color}" data-label="{escape(str(labels[i]))}" '
            f'data-value="{value or 0}"><title>{escape(str(labels[i]))}: {value or 0}</title>'
            "</rect>"
        )
    body += _x_labels(labels, xs)
    return _frame(title, y_max, "{:.0f}", body, title)


def line_chart(
    title: str, labels: Sequence[object], values: Sequence[float | None],
    *, target: float | None = None,
) -> str:
    """Rates (0..1) over time; gaps where a bucket has no value."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(values), 1)
    slot = plot_w / n
    xs = [LEFT + i * slot + slot / 2 for i in range(len(values))]
    body = []
    if target is not None:
        y = TOP + plot_h - plot_h * target
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                    'stroke="#c33" stroke-dasharray="4 3"/>')
    segment: list[str] = []
    for x, value in zip(xs, values, strict=True):
        if value is None:
            if len(segment) > 1:
                body.append(f'<polyline fill="none" stroke="#2a7" stroke-width="2" '
                            f'points="{" ".join(segment)}"/>')
            segment = []
            continue
        y = TOP + plot_h - plot_h * float(value)
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2a7">'
                    f"<title>{value:.1%}</title></circle>")
    if len(segment) > 1:
        body.append(f'<polyline fill="none" stroke="#2a7" stroke-width="2" '
                    f'points="{" ".join(segment)}"/>')
    body += _x_labels(labels, xs)
    return _frame(title, 1.0, "{:.0%}", body, title)
