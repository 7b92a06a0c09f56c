"""A neutral ``Chart`` for each platform: a VChart spec (Feishu card 2.0) or compact text bars.

Both are pure functions of the chart: the numbers shown are the chart's own values, which the
handlers build from the same query results as the card's text, so chart and text agree.

- ``vchart_spec``: the ``chart_spec`` of a Feishu ``{"tag": "chart"}`` element. Basic VChart
  properties only (clients run VChart 1.2–1.12), no functions. One data set ``{"id": "data",
  "values": [{"label", "series", "value"}]}``: a funnel maps ``categoryField``/``valueField``,
  bars and lines ``xField``/``yField`` (grouped bars and several lines by ``seriesField``).
- ``text_bars``: one line per label, ``张三 ▇▇▇▇▇▁▁▁ 62%``, for WeCom markdown and plain text.
  The lines are plain text: the caller escapes them like a card's other lines and shows
  ``chart.title`` where it wants it.
"""

from __future__ import annotations

import unicodedata
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from bot.messages import CHART_BAR, CHART_FUNNEL, CHART_LINE, Chart

FULL = "▇"
EMPTY = "▁"
DATA_ID = "data"
# A percentage chart (unit "%") is drawn against 100: a full bar is the target reached.
PERCENT = "%"
# Repeated labels would merge into one VChart category; the repeats get invisible suffixes.
_INVISIBLE = "\u200b"


def has_data(chart: Chart | None) -> bool:
    """True when the chart has labels and a series with a value for each of them."""
    if chart is None or not chart.labels or not chart.series:
        return False
    return all(len(s.values) == len(chart.labels) for s in chart.series)


def number(value: float) -> int | float:
    """A chart value as JSON wants it: 4 rather than 4.0."""
    return int(value) if float(value).is_integer() else float(value)


def fmt_value(value: float, unit: str = "") -> str:
    """'4', '2.5', '62%': the value as the card's text shows it, with the chart's unit."""
    shown = number(value)
    text = str(shown) if isinstance(shown, int) else f"{Decimal(str(shown)).normalize():f}"
    return f"{text}{unit}"


def rounded_percent(part: float, whole: float) -> int | None:
    """``part / whole`` in percent, rounded half up (never truncated); None when whole is 0."""
    if not whole:
        return None
    ratio = Decimal(str(part)) * 100 / Decimal(str(whole))
    return int(ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- VChart ----------------------------------------------------------------------------------


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct for VChart (a repeat gets zero-width spaces; it looks the same)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        seen[label] = count + 1
        out.append(label + _INVISIBLE * count)
    return out


def vchart_spec(chart: Chart) -> dict[str, Any]:
    """The VChart spec of ``chart`` for a Feishu card 2.0 ``chart`` element."""
    if not has_data(chart):
        raise ValueError(f"chart without data: {chart.title!r}")
    labels = _unique(chart.labels)
    values = [
        {"label": label, "series": series.name, "value": number(series.values[i])}
        for series in chart.series
        for i, label in enumerate(labels)
    ]
    spec: dict[str, Any] = {
        "type": chart.kind,
        "title": {"visible": True, "text": chart.title},
        "data": [{"id": DATA_ID, "values": values}],
    }
    several = len(chart.series) > 1
    if chart.kind == CHART_FUNNEL:
        first = chart.series[0].values
        spec["data"][0]["values"] = values[: len(labels)]
        spec.update(
            categoryField="label",
            valueField="value",
            # the layers between stages show VChart's conversion (value / previous value);
            # left out when a stage is empty, where that ratio would be 0/0
            isTransform=all(v > 0 for v in first[:-1]),
            transformLabel={"visible": True},
            label={"visible": True},
            outerLabel={"visible": False},
            legends={"visible": False},
        )
    elif chart.kind == CHART_BAR:
        spec.update(
            xField=["label", "series"] if several else "label",
            yField="value",
            seriesField="series",
            label={"visible": True},
            legends={"visible": several, "orient": "bottom"},
        )
    elif chart.kind == CHART_LINE:
        spec.update(
            xField="label",
            yField="value",
            seriesField="series",
            point={"visible": True},
            label={"visible": True},
            legends={"visible": several, "orient": "bottom"},
        )
    else:
        raise ValueError(f"unknown chart kind: {chart.kind!r}")
    return spec


# -- text bars -------------------------------------------------------------------------------


def _width(text: str) -> int:
    """Display width: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns (full-width spaces, then one plain space)."""
    missing = width - _width(text)
    return text + "\u3000" * (missing // 2) + " " * (missing % 2)


def bar(value: float, scale: float, width: int) -> str:
    """'▇▇▇▇▇▁▁▁': ``value / scale`` of ``width`` cells, rounded; a non-zero value shows a cell."""
    if scale <= 0 or value <= 0:
        filled = 0
    else:
        share = Decimal(str(min(value, scale))) / Decimal(str(scale)) * width
        filled = max(1, int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    return FULL * filled + EMPTY * (width - filled)


def text_bars(chart: Chart, width: int = 8) -> list[str]:
    """Compact bars, label first: '张三 ▇▇▇▇▇▁▁▁ 62%'; no lines for a chart without data.

    A funnel adds each stage's conversion from the one before ('跟进中 ▇▇▇▇▁▁▁▁ 6（60%）').
    Several series: each series' name on a line of its own, then its bars. A percentage chart
    is drawn against 100, any other against its largest value.
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    if not has_data(chart):
        return []
    label_width = max(_width(label) for label in chart.labels)
    if chart.unit == PERCENT:
        scale = 100.0
    else:
        scale = max((max(s.values) for s in chart.series), default=0.0)
    lines: list[str] = []
    several = len(chart.series) > 1
    for series in chart.series:
        if several:
            lines.append(f"{series.name}：")
        for i, (label, value) in enumerate(zip(chart.labels, series.values, strict=True)):
            shown = fmt_value(value, chart.unit)
            if chart.kind == CHART_FUNNEL and i:
                rate = rounded_percent(value, series.values[i - 1])
                if rate is not None:
                    shown += f"（{rate}%）"
            lines.append(f"{_pad(label, label_width)} {bar(value, scale, width)} {shown}")
    return lines
