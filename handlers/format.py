"""How replies show dates, money, stages and customer names (Chinese, short)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from bot.messages import (
    ACT_CLAIM,
    ACT_DONE,
    ACT_LOSE,
    ACT_SNOOZE,
    FIELD_DATE,
    FIELD_SELECT,
    Button,
    CardSection,
    Field,
    Form,
    Option,
    Reply,
)
from models.customer import Customer
from models.member import Member
from models.parsing import sanitize_user_text
from models.stages import ALL_STAGES, Stage, Status, status_for

WEEKDAYS = "一二三四五六日"
LIST_LIMIT = 10  # lines of one list in a reply or report


def customer_label(customer: Customer) -> str:
    """The customer's name, safe to show."""
    return customer_name(customer.name)


def customer_name(name: str) -> str:
    """A stored customer name, safe to show."""
    return sanitize_user_text(name, 40)


def cut(lines: list[str], limit: int = LIST_LIMIT) -> list[str]:
    """The first ``limit`` lines, then "还有 N 个…" for the rest."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"还有 {len(lines) - limit} 个…"]


def quote_name(name: str) -> str:
    """A name as it must be typed (quoted when it has spaces)."""
    return f"“{name}”" if any(ch.isspace() for ch in name) else name


def fmt_date(value: datetime | date, has_time: bool = False) -> str:
    """12月2日(周三), plus 15:00 when a time was given."""
    text = f"{value.month}月{value.day}日(周{WEEKDAYS[value.weekday()]})"
    if has_time and isinstance(value, datetime):
        text += f" {value:%H:%M}"
    return text


def fmt_money(amount: Decimal | None) -> str:
    """5.5万 when exact, else 34,004元 or 8,000元: never rounded, so replies show what was understood."""
    if amount is None:
        return "未填"
    amount = Decimal(amount)
    wan = amount / 10000
    if amount >= 10000 and wan == wan.quantize(Decimal("0.01")):
        return f"{wan.quantize(Decimal('0.01')).normalize():f}万"
    value = amount.quantize(Decimal("0.01")).normalize()
    return f"{value:,f}元"


def fmt_percent(part: Decimal | int, whole: Decimal | int) -> str:
    """'67%' (rounded half up, never truncated), or '-' when there is nothing to divide."""
    if not whole:
        return "-"
    ratio = Decimal(part) * 100 / Decimal(whole)
    return f"{ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP)}%"


def fmt_paid(paid: Decimal | None, amount: Decimal | None) -> str:
    """'回款 20万 / 48万': payments so far against the contract amount (未填 when unknown)."""
    return f"回款 {fmt_money(paid or Decimal(0))} / {fmt_money(amount)}"


def fmt_late(days: int) -> str:
    """'逾期 2 个工作日', or '已逾期' when it fell due today."""
    return f"逾期 {days} 个工作日" if days else "已逾期"


def fmt_ago(days: int) -> str:
    """今天 / 昨天 / N 天前."""
    if days <= 0:
        return "今天"
    if days == 1:
        return "昨天"
    return f"{days} 天前"


def member_label(member: Member | None) -> str:
    """A member's display name, safe to show (未分配 for nobody)."""
    if member is None:
        return "未分配"
    return sanitize_user_text(member.display, 30)


def mention_member(reply: Reply, member: Member) -> str:
    """A notifying mention token of ``member`` inside ``reply``."""
    return reply.mention(member.user_id, sanitize_user_text(member.display, 30))


# The fields of the forms on a customer's buttons (handlers.card_actions reads them back).
FORM_NOTE = "note"
FORM_NEXT = "next"
FORM_STAGE = "stage"
FORM_REASON = "reason"
SNOOZE_TOMORROW = "tomorrow"  # ⏰ 推到明天: the next working day
SNOOZE_MONDAY = "monday"  # ⏰ 下周一


def customer_key(customer_id: int) -> str:
    """The key of a customer's section in a card (``CardSection.key``): updated in place on a tap."""
    return f"customer:{customer_id}"


def customer_buttons(customer_id: int, stage: str, claim: bool = False) -> list[Button]:
    """The actions on one open customer: ✅ 已跟进 (form), ⏰ 推到明天, ⏰ 下周一, 🙋 我来跟, ❌ 输单.

    ``claim``: the customer has no owner, so 🙋 我来跟 (/领取) is offered. A deal already won
    or lost has none: those are commands (/阶段, /回款).
    """
    if status_for(stage) != Status.OPEN:
        return []
    target = str(customer_id)
    done = Form(
        [
            Field(FORM_NOTE, "跟进内容", placeholder="例如：报价已发，客户在比价"),
            Field(FORM_NEXT, "下次跟进", FIELD_DATE),
            Field(
                FORM_STAGE,
                "阶段",
                FIELD_SELECT,
                [Option(s.value, s.value) for s in ALL_STAGES if s != Stage.LOST],
                default=stage,
            ),
        ],
        submit="记录跟进",
    )
    lose = Form(
        [Field(FORM_REASON, "输单原因", placeholder="例如：价格太高", required=True)],
        submit="确认输单",
    )
    buttons = [
        Button("✅ 已跟进", ACT_DONE, target, style="primary", form=done),
        Button("⏰ 推到明天", ACT_SNOOZE, target, SNOOZE_TOMORROW),
        Button("⏰ 下周一", ACT_SNOOZE, target, SNOOZE_MONDAY),
    ]
    if claim:
        buttons.append(Button("🙋 我来跟", ACT_CLAIM, target))
    buttons.append(Button("❌ 输单", ACT_LOSE, target, style="danger", form=lose))
    return buttons


def customer_sections(
    rows: list[tuple[str, int, str, bool]], limit: int = LIST_LIMIT
) -> list[CardSection]:
    """A section per (line, customer id, stage, claimable) with the customer's buttons.

    The first ``limit`` rows, then "还有 N 个…" (as ``cut``): the lines read as a cut list.
    """
    shown = cut([line for line, *_ in rows], limit)
    sections = [
        CardSection(
            lines=[line],
            key=customer_key(customer_id),
            buttons=customer_buttons(customer_id, stage, claim),
        )
        for line, customer_id, stage, claim in rows[:limit]
    ]
    return sections + [CardSection(lines=[line]) for line in shown[len(sections) :]]
