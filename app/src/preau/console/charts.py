"""Charts as inline SVG made on the server: no JavaScript library, nothing to download; the
page gives the same numbers in a table (the chart is an image with a title for screen
readers, the table is what they read)."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, BOTTOM, TOP = 600, 220, 30, 16


def bars(points: list[tuple[str, int]], *, title: str) -> Markup:
    """A bar chart of (label, value), scaled to the largest value; the first and last labels
    under the axis, each bar's value in its tooltip. Empty string for no points."""
    if not points:
        return Markup("")
    peak = max(value for _, value in points) or 1
    step = WIDTH / max(len(points), 10)  # a lone bar stays a bar, not a block
    usable = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="0" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#555" stroke-width="1"/>',
    ]
    for i, (label, value) in enumerate(points):
        height = usable * value / peak
        x, y = i * step + step * 0.1, HEIGHT - BOTTOM - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{height:.1f}" '
            f'fill="#1d5a7a"><title>{escape(label)} : {value}</title></rect>'
        )
    parts.append(
        f'<text x="0" y="{HEIGHT - 8}" font-size="13" fill="#333">{escape(points[0][0])}</text>'
    )
    if len(points) > 1:
        parts.append(
            f'<text x="{WIDTH}" y="{HEIGHT - 8}" font-size="13" fill="#333" '
            f'text-anchor="end">{escape(points[-1][0])}</text>'
        )
    parts.append(f'<text x="0" y="{TOP - 3}" font-size="13" fill="#333">max. {peak}</text></svg>')
    return Markup("".join(parts))
