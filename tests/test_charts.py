"""Charts in chat: the digest, the weekly review, /漏斗 and /排行 carry a neutral Chart built from
the same query results as their text, and bot/adapters/charts.py renders it (VChart, text bars).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select

import handlers.reports  # noqa: F401  (registers the report commands)
import handlers.target  # noqa: F401  (registers /目标)
from bot.adapters.charts import fmt_value, rounded_percent, text_bars, vchart_spec
from bot.messages import (
    CHART_BAR,
    CHART_FUNNEL,
    CHART_LINE,
    Card,
    CardSection,
    Chart,
    Series,
)
from handlers.format import fmt_percent
from handlers.jobs.base import job_context
from handlers.jobs.digest import percent
from models import Chat, reports
from tests.support.harness import TZ, ChatHarness
from tests.support.jobs import digest, section, weekly

EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=TZ)


def at(chat: ChatHarness, year: int, month: int, day: int, hour: int, minute: int) -> None:
    """Set the chat clock to year-month-day hour:minute (Asia/Shanghai)."""
    chat.clock.now = datetime(year, month, day, hour, minute, tzinfo=TZ)


def count(cell: str) -> int:
    """A count cell of a table ('-' is none)."""
    return 0 if cell == "-" else int(cell)


def percent_cell(cell: str) -> int:
    """'67%' or '67%（目标 30万）' → 67."""
    return int(cell.split("%")[0])


def only_chart(section: CardSection) -> Chart:
    """The section's chart, checked to be renderable everywhere and to survive the outbox."""
    chart = section.chart
    assert chart is not None
    card = Card("t", [section])
    assert Card.from_payload(json.loads(json.dumps(card.to_payload()))).sections[0].chart == chart
    json.dumps(vchart_spec(chart))
    assert len(text_bars(chart)) >= len(chart.labels)
    return chart


def values(chart: Chart, name: str) -> list[int]:
    """One series' values as whole numbers (they are counts or rounded percentages)."""
    (series,) = [s for s in chart.series if s.name == name]
    assert all(float(v).is_integer() for v in series.values)
    return [int(v) for v in series.values]


# -- the four cards: the chart shows the text's numbers ----------------------------------------


def test_digest_chart_is_the_follow_up_column_of_the_per_rep_table(chat: ChatHarness) -> None:
    chat.send("/跟进 华为 聊了", as_="张三")
    chat.send("/跟进 小米 聊了", as_="张三")
    chat.send("/跟进 华为 又聊了", as_="张三")
    chat.send("/跟进 OPPO 聊了", as_="李四")
    chat.send("/新客户 vivo", as_="王五")

    message = digest(chat, EVENING)

    rep = section(message, "各人今日")
    assert rep.table is not None
    chart = only_chart(rep)
    assert chart.kind == CHART_BAR
    assert chart.labels == [row[0] for row in rep.table.rows] == ["张三", "李四", "王五"]
    assert values(chart, "跟进") == [count(row[1]) for row in rep.table.rows] == [3, 1, 0]
    assert "跟进 4 次" in message.text
    assert text_bars(chart) == ["张三 ▇▇▇▇▇▇▇▇ 3", "李四 ▇▇▇▁▁▁▁▁ 1", "王五 ▁▁▁▁▁▁▁▁ 0"]


def test_digest_without_follow_ups_has_no_chart(chat: ChatHarness) -> None:
    chat.send("/新客户 vivo", as_="王五")
    rep = section(digest(chat, EVENING), "各人今日")
    assert rep.table is not None and rep.table.rows[0][:2] == ["王五", "-"]
    assert rep.chart is None


def test_weekly_target_chart_shows_the_completion_column(chat: ChatHarness) -> None:
    chat.make_manager()
    at(chat, 2026, 11, 24, 10, 0)
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/签约 甲 20万", as_="张三")
    chat.send("/跟进 乙 聊了", as_="李四")
    chat.send("/签约 乙 1万", as_="李四")
    chat.send("/跟进 丙 聊了", as_="王五")
    chat.clock.now = EVENING
    chat.send("/目标 @张三 30万", as_="王经理")  # 66.7% → 67%, not 66%
    chat.send("/目标 @李四 8万", as_="王经理")  # 12.5% → 13%

    message = weekly(chat, EVENING)

    targets = section(message, "11月目标")
    assert targets.table is not None
    chart = only_chart(targets)
    assert chart.kind == CHART_BAR and chart.unit == "%"
    rows = [row for row in targets.table.rows if row[3] != "-"]
    assert chart.labels == [row[0] for row in rows] == ["张三", "李四"]
    assert values(chart, "完成") == [percent_cell(row[3]) for row in rows] == [67, 13]
    assert text_bars(chart) == ["张三 ▇▇▇▇▇▁▁▁ 67%", "李四 ▇▁▁▁▁▁▁▁ 13%"]


def test_weekly_trend_counts_four_weeks_and_ends_with_this_week(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 2, 10, 0)  # Monday of the first week of four
    chat.send("/跟进 甲 聊了", as_="张三")
    at(chat, 2026, 11, 8, 23, 59)  # Sunday night: still that week
    chat.send("/跟进 甲 又聊了", as_="张三")
    at(chat, 2026, 11, 1, 12, 0)  # the week before: not in the trend
    chat.send("/跟进 乙 聊了", as_="张三")
    at(chat, 2026, 11, 18, 10, 0)
    chat.send("/新客户 丙", as_="李四")
    at(chat, 2026, 11, 23, 0, 0)  # Monday 00:00: this week
    chat.send("/跟进 丁 聊了", as_="李四")
    chat.send("/跟进 甲 再聊", as_="张三")

    message = weekly(chat, EVENING)

    trend = section(message, "近 4 周")
    assert trend.table is not None
    assert trend.table.rows == [
        ["11月2日", "2", "1", "0"],
        ["11月9日", "0", "0", "0"],
        ["11月16日", "0", "1", "0"],
        ["本周", "2", "1", "0"],
    ]
    chart = only_chart(trend)
    assert chart.kind == CHART_LINE
    assert chart.labels == [row[0] for row in trend.table.rows]
    assert values(chart, "跟进") == [int(row[1]) for row in trend.table.rows]
    assert values(chart, "新客户") == [int(row[2]) for row in trend.table.rows]
    # this week's point is the headline's figures: one definition of what counts
    assert "跟进 2 次｜新客户 1 个｜推进 0 次" in message.text


def test_weekly_trend_without_activity_has_a_table_and_no_chart(chat: ChatHarness) -> None:
    at(chat, 2026, 10, 1, 10, 0)
    chat.send("/跟进 甲 聊了", as_="张三")
    trend = section(weekly(chat, EVENING), "近 4 周")
    assert trend.table is not None and [row[1] for row in trend.table.rows] == ["0"] * 4
    assert trend.chart is None


def test_funnel_chart_is_the_reached_column_with_its_conversions(chat: ChatHarness) -> None:
    for name in ("甲", "乙", "丙"):
        chat.send(f"/跟进 {name} 聊了", as_="张三")
    chat.send("/报价 甲 10万", as_="张三")
    chat.send("/报价 乙 10万", as_="张三")
    chat.send("/签约 甲 10万", as_="张三")
    chat.send("/新客户 丁", as_="张三")

    chat.reply("/漏斗")

    assert chat.last is not None and chat.last[0].card is not None
    block = chat.last[0].card.sections[0]
    assert block.table is not None
    ladder = block.table.rows[:-1]  # the last row is 输单, outside the funnel
    chart = only_chart(block)
    assert chart.kind == CHART_FUNNEL
    assert chart.labels == [row[0] for row in ladder]
    reached = values(chart, "到达")
    assert reached == [int(row[3]) for row in ladder]
    assert reached[:5] == [4, 3, 3, 2, 1]
    bars = text_bars(chart)
    conversions = [line.split("（")[1].rstrip("）") if "（" in line else "-" for line in bars]
    assert conversions == [row[4] for row in ladder]
    assert conversions[3] == "67%"  # 2 of 3 quoted: rounded, not truncated


def test_ranking_chart_shows_each_target_completion(chat: ChatHarness) -> None:
    chat.make_manager()
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/签约 甲 20万", as_="张三")
    chat.send("/跟进 乙 聊了", as_="李四")
    chat.send("/签约 乙 50万", as_="李四")
    chat.send("/跟进 丙 聊了", as_="王五")
    chat.send("/目标 @张三 30万", as_="王经理")
    chat.send("/目标 @王五 40万", as_="王经理")

    chat.reply("/排行")

    assert chat.last is not None and chat.last[0].card is not None
    block = chat.last[0].card.sections[0]
    assert block.table is not None
    chart = only_chart(block)
    with_goal = [row for row in block.table.rows if row[5] != "-"]
    assert chart.labels == [row[1] for row in with_goal] == ["张三", "王五"]
    assert values(chart, "完成") == [percent_cell(row[5]) for row in with_goal] == [67, 0]


def test_ranking_without_targets_charts_the_follow_ups(chat: ChatHarness) -> None:
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/跟进 乙 聊了", as_="李四")
    chat.send("/跟进 丙 聊了", as_="李四")
    chat.send("/签约 甲 20万", as_="张三")

    chat.reply("/排行")

    assert chat.last is not None and chat.last[0].card is not None
    block = chat.last[0].card.sections[0]
    assert block.table is not None
    chart = only_chart(block)
    assert chart.labels == [row[1] for row in block.table.rows] == ["张三", "李四"]
    assert values(chart, "跟进") == [int(row[4]) for row in block.table.rows] == [1, 2]


def test_trend_query_agrees_with_the_per_member_counts(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 20, 10, 0)
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/报价 甲 5万", as_="张三")
    at(chat, 2026, 11, 25, 10, 0)
    chat.send("/跟进 乙 聊了", as_="李四")
    chat.send("/跟进 甲 又聊", as_="张三")
    chat.send("/撤销", as_="张三")
    with chat.runtime.sessions() as session:
        ctx = job_context(
            session, session.scalars(select(Chat)).one(), EVENING, chat.runtime.settings
        )
        edges = [reports.day_start(ctx, date(2026, 11, d)) for d in (16, 23, 28)]
        weeks = reports.activity_by_period(ctx, edges)
        for week, (start, end) in zip(weeks, zip(edges, edges[1:], strict=False), strict=True):
            each = reports.activity_counts(ctx, start, end).values()
            assert week.entries == sum(r.entries for r in each)
            assert week.follow_ups == sum(r.follow_ups for r in each)
            assert week.new_customers == sum(r.new_customers for r in each)
            assert week.stage_moves == sum(r.stage_moves for r in each)
        assert [(w.follow_ups, w.new_customers, w.stage_moves) for w in weeks] == [
            (1, 1, 1),  # the new customer's first follow-up is no stage move; /报价 is
            (1, 1, 0),
        ]
        with pytest.raises(ValueError):
            reports.activity_by_period(ctx, [edges[1], edges[0]])
        single = reports.activity_by_period(ctx, [edges[1], edges[2]])
        assert single[0].follow_ups == weeks[1].follow_ups


def test_trend_is_one_query_whatever_the_number_of_weeks(chat: ChatHarness) -> None:
    chat.send("/跟进 甲 聊了", as_="张三")
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    with chat.runtime.sessions() as session:
        ctx = job_context(
            session, session.scalars(select(Chat)).one(), EVENING, chat.runtime.settings
        )
        counts = []
        for weeks in (1, 4, 12):
            edges = [
                reports.day_start(ctx, date(2026, 11, 30)) - timedelta(weeks=n)
                for n in range(weeks, -1, -1)
            ]
            statements.clear()
            event.listen(chat.runtime.engine, "before_cursor_execute", record)
            try:
                found = reports.activity_by_period(ctx, edges)
            finally:
                event.remove(chat.runtime.engine, "before_cursor_execute", record)
            assert len(found) == weeks and found[-1].follow_ups == 1
            counts.append(len(statements))
    assert counts == [1, 1, 1]


# -- vchart_spec -------------------------------------------------------------------------------


def spec_points(spec: dict[str, object]) -> list[dict[str, object]]:
    """The data points of a spec (one data set)."""
    data = spec["data"]
    assert isinstance(data, list) and len(data) == 1 and data[0]["id"]
    points = data[0]["values"]
    assert isinstance(points, list)
    for point in points:
        assert isinstance(point["value"], int | float) and not isinstance(point["value"], bool)
    return points


def test_funnel_spec() -> None:
    chart = Chart(CHART_FUNNEL, "到达", ["线索", "跟进中", "已签约"], [Series("到达", [10, 6, 2])])
    spec = vchart_spec(chart)
    assert spec["type"] == "funnel"
    assert spec["title"] == {"visible": True, "text": "到达"}
    assert (spec["categoryField"], spec["valueField"]) == ("label", "value")
    assert spec["isTransform"] is True
    points = spec_points(spec)
    assert [p["label"] for p in points] == chart.labels
    assert [p["value"] for p in points] == [10, 6, 2]
    json.dumps(spec)
    # an empty stage before the last: no conversion layers (VChart would divide 0 by 0)
    empty = Chart(CHART_FUNNEL, "到达", ["a", "b", "c"], [Series("到达", [3, 0, 0])])
    assert vchart_spec(empty)["isTransform"] is False


def test_bar_spec_single_and_grouped() -> None:
    single = Chart(CHART_BAR, "完成", ["张三", "李四"], [Series("完成", [67, 12.5])], unit="%")
    spec = vchart_spec(single)
    assert (spec["type"], spec["xField"], spec["yField"]) == ("bar", "label", "value")
    assert [(p["label"], p["value"]) for p in spec_points(spec)] == [("张三", 67), ("李四", 12.5)]
    grouped = Chart(
        CHART_BAR, "对比", ["张三", "李四"], [Series("目标", [10, 20]), Series("已签约", [5, 25])]
    )
    spec = vchart_spec(grouped)
    assert spec["xField"] == ["label", "series"] and spec["seriesField"] == "series"
    assert spec["legends"]["visible"] is True
    assert [(p["label"], p["series"], p["value"]) for p in spec_points(spec)] == [
        ("张三", "目标", 10),
        ("李四", "目标", 20),
        ("张三", "已签约", 5),
        ("李四", "已签约", 25),
    ]


def test_line_spec() -> None:
    chart = Chart(
        CHART_LINE,
        "近 4 周",
        ["11月2日", "本周"],
        [Series("跟进", [3, 4]), Series("新客户", [1, 0])],
    )
    spec = vchart_spec(chart)
    assert (spec["type"], spec["xField"], spec["yField"], spec["seriesField"]) == (
        "line",
        "label",
        "value",
        "series",
    )
    points = spec_points(spec)
    assert [p["label"] for p in points[:2]] == chart.labels
    assert {p["series"] for p in points} == {"跟进", "新客户"}


def test_repeated_labels_stay_separate_categories() -> None:
    chart = Chart(CHART_BAR, "跟进", ["已离开的成员", "已离开的成员"], [Series("跟进", [1, 2])])
    labels = [p["label"] for p in spec_points(vchart_spec(chart))]
    assert len(set(labels)) == 2
    assert [str(label).replace("\u200b", "") for label in labels] == chart.labels


def test_a_chart_without_data_has_no_spec_and_no_bars() -> None:
    for chart in (
        Chart(CHART_BAR, "空", [], [Series("跟进", [])]),
        Chart(CHART_BAR, "空", ["张三"], []),
        Chart(CHART_BAR, "错", ["张三", "李四"], [Series("跟进", [1])]),
    ):
        assert text_bars(chart) == []
        with pytest.raises(ValueError):
            vchart_spec(chart)
    with pytest.raises(ValueError):
        vchart_spec(Chart("pie", "饼", ["a"], [Series("x", [1])]))


# -- text_bars -----------------------------------------------------------------------------------


def test_bars_round_half_up_and_follow_the_width() -> None:
    chart = Chart(
        CHART_BAR, "完成", ["张三", "李四", "王五"], [Series("完成", [62, 6.25, 130])], "%"
    )
    # 62% of 8 cells is 4.96 → 5; 6.25% is 0.5 → 1 (half up); past the target: a full bar
    assert text_bars(chart) == [
        "张三 ▇▇▇▇▇▁▁▁ 62%",
        "李四 ▇▁▁▁▁▁▁▁ 6.25%",
        "王五 ▇▇▇▇▇▇▇▇ 130%",
    ]
    assert text_bars(chart, width=4) == ["张三 ▇▇▁▁ 62%", "李四 ▇▁▁▁ 6.25%", "王五 ▇▇▇▇ 130%"]
    with pytest.raises(ValueError):
        text_bars(chart, width=0)


def test_bars_align_labels_and_list_each_series() -> None:
    chart = Chart(
        CHART_LINE,
        "近 2 周",
        ["11月16日", "本周"],
        [Series("跟进", [4, 2]), Series("新客户", [0, 1])],
    )
    assert text_bars(chart, width=4) == [
        "跟进：",
        "11月16日 ▇▇▇▇ 4",
        "本周\u3000\u3000 ▇▇▁▁ 2",
        "新客户：",
        "11月16日 ▁▁▁▁ 0",
        "本周\u3000\u3000 ▇▁▁▁ 1",
    ]


def test_funnel_bars_show_rounded_conversions() -> None:
    chart = Chart(
        CHART_FUNNEL, "到达", ["线索", "报价", "签约", "回款"], [Series("到达", [8, 3, 2, 0])]
    )
    assert text_bars(chart) == [
        "线索 ▇▇▇▇▇▇▇▇ 8",
        "报价 ▇▇▇▁▁▁▁▁ 3（38%）",
        "签约 ▇▇▁▁▁▁▁▁ 2（67%）",
        "回款 ▁▁▁▁▁▁▁▁ 0（0%）",
    ]


@pytest.mark.parametrize(
    ("part", "whole"),
    [(2, 3), (1, 8), (1, 3), (1, 0), (0, 5), (Decimal("200000"), Decimal("300000"))],
)
def test_chart_percentages_are_the_texts(part: Decimal | int, whole: Decimal | int) -> None:
    shown = fmt_percent(part, whole)
    assert (f"{percent(part, whole)}%" if whole else "-") == shown
    assert (f"{rounded_percent(float(part), float(whole))}%" if whole else "-") == shown


def test_values_are_shown_as_the_text_shows_them() -> None:
    assert [fmt_value(3.0), fmt_value(2.5), fmt_value(67, "%"), fmt_value(0)] == [
        "3",
        "2.5",
        "67%",
        "0",
    ]
