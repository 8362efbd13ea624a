"""French display helpers of the templates (filters of preau.core.jinja)."""

from decimal import Decimal


def note(value) -> str:
    """A grade or an average, French style, without useless zeros: 16.50 → "16,5", 15 → "15"."""
    if value is None or value == "":
        return "—"
    number = Decimal(str(value)).quantize(Decimal("0.01"))
    text = f"{number:f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def average(value) -> str:
    """An average as Pronote shows it, two decimals: 12.5 → "12,50"; None → "—" (no average,
    never 0). Give it the value already rounded (preau.grades.averages.rounded: half-up)."""
    if value is None:
        return "—"
    return f"{Decimal(value):.2f}".replace(".", ",")


def pluriel(count, suffix="s") -> str:
    """French plural: 0 and 1 are singular."""
    try:
        return suffix if int(count) > 1 else ""
    except (TypeError, ValueError):
        return ""


def subject(value) -> str:
    """A subject's label (or code); "—" without subject. A filter, not an include: it runs in
    list rows, where an include per row is measurably slower."""
    if not value:
        return "—"
    return value.label or value.code
