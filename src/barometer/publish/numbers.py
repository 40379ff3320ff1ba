"""How the report prints numbers: the one rounding rule, in one place.

Every number is rounded half away from zero on its shortest decimal representation
(``Decimal(repr(x))`` with ``ROUND_HALF_UP``), so what is printed is what a reader
rounding the stored value by hand would write.  Shares are printed as percentages
(``100 * share`` in double precision, then rounded).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = [
    "format_count",
    "format_level",
    "format_mean",
    "format_mean_moe",
    "format_moe",
    "format_number",
    "format_p",
    "format_percent",
    "mean_digits",
    "round_half_up",
]


def round_half_up(x: float, digits: int = 0) -> Decimal:
    """``x`` rounded to ``digits`` decimals, half away from zero, as a Decimal."""
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _text(value: Decimal, digits: int) -> str:
    if value == 0:
        value = abs(value)
    return f"{value:,.{digits}f}".replace("-", "−")


def format_percent(share: float | None, digits: int = 0) -> str:
    """``share`` (a proportion) as a percentage without the sign: ``0.165`` → ``17``.

    ``None`` prints as ``–``.
    """
    if share is None:
        return "–"
    return _text(round_half_up(100.0 * float(share), digits), digits)


def format_level(confidence: float) -> str:
    """A confidence (or significance) level as the words print it: ``0.9`` → ``90%``,
    ``0.995`` → ``99.5%`` — exact to four decimals of a percent, never rounded to a
    whole number (``0.995`` is not "100%")."""
    return f"{round(100.0 * float(confidence), 4):g}%"


def format_moe(ci_low: float | None, ci_high: float | None) -> str:
    """The modelled margin of error: ``±`` half the interval's width in percentage
    points, one decimal (``(ci_high - ci_low) / 2``)."""
    if ci_low is None or ci_high is None:
        return "–"
    return "±" + format_percent((float(ci_high) - float(ci_low)) / 2, 1)


def format_count(n: float | None) -> str:
    """A count with thousands separators, rounded to a whole number: ``1234.5`` → ``1,235``."""
    if n is None:
        return "–"
    return _text(round_half_up(n, 0), 0)


def format_number(x: float | None, digits: int = 2) -> str:
    """A plain number to ``digits`` decimals (design effects, weight ratios)."""
    if x is None:
        return "–"
    return _text(round_half_up(x, digits), digits)


def mean_digits(decimals: int) -> int:
    """Decimals of a printed mean (a 0-10 scale, an age): one more than the percentages'
    ``decimals`` of the publication rules, so 5.1 and 5.6 out of 10 read apart."""
    return decimals + 1


def format_mean(x: float | None, decimals: int = 0, signed: bool = False) -> str:
    """A numeric question's mean (or a difference of means, with a sign when
    ``signed``) to :func:`mean_digits` decimals: ``5.126`` → ``5.1``."""
    if x is None:
        return "–"
    text = format_number(x, mean_digits(decimals))
    return "+" + text if signed and not text.startswith("−") and float(text) != 0 else text


def format_mean_moe(ci_low: float | None, ci_high: float | None, decimals: int = 0) -> str:
    """A mean's margin of error, ``±`` half its interval's width in the question's units,
    to one decimal more than the mean (as a share's margin has one more than the share), so
    a large sample's ``±0.04`` does not print as ``±0.0``."""
    if ci_low is None or ci_high is None:
        return "–"
    return "±" + format_number((float(ci_high) - float(ci_low)) / 2, mean_digits(decimals) + 1)


def format_p(p: float | None) -> str:
    """A p-value to three decimals, ``<0.001`` below that (what a table can print)."""
    if p is None or p != p:
        return "–"
    if p < 0.001:
        return "<0.001"
    return format_number(p, 3)
