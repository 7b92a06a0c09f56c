"""/等级 客户 A|B|C|D: how much a customer matters (the meanings come from ``[book] grades``)."""

from __future__ import annotations

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.format import customer_label
from handlers.grade_tags import grade_choices, grade_label, grade_of
from handlers.registry import CommandError, Group, command
from models.activity import Kind
from models.customers import Changes
from models.parsing import sanitize_user_text, split_first

CLEAR_WORDS = ("无", "清除", "取消", "去掉")


def meanings(ctx: Context) -> list[str]:
    """The grade meanings of this bot (``[book] grades``), for /帮助 等级."""
    return [f"等级含义：{grade_choices(ctx.settings.book.grades)}"]


@command(
    "等级",
    aliases=("dj", "grade", "分级"),
    usage="/等级 客户 等级",
    summary="给客户定等级，卡片、列表和日报里显示；写 无 清除等级",
    example="/等级 华为 A",
    who="负责人、经理",
    group=Group.RECORD,
)
def grade(ctx: Context, args: str) -> OutgoingMessage:
    """Set or clear the customer's grade."""
    grades = ctx.settings.book.grades
    name, rest = split_first(args)
    if not name:
        raise ctx.usage(f"请写上客户名称和等级（{grade_choices(grades)}）")
    customer, rest = ctx.customer(name, rest)
    ctx.require_can_change(customer, "改等级")
    word, extra = split_first(rest)
    if not word:
        raise ctx.usage(f"请写上等级：{grade_choices(grades)}")
    if extra:
        raise ctx.usage(f"等级只写一个字母，多出了“{sanitize_user_text(extra, 20)}”")
    label = customer_label(customer)
    if word in CLEAR_WORDS:
        new = ""
    else:
        found = grade_of(grades, word)
        if found is None:
            raise ctx.usage(
                f"没有等级“{sanitize_user_text(word, 10)}”，可选：{grade_choices(grades)}"
            )
        new = found
    old = customer.grade or ""
    if new == old:
        now = f"已经是 {grade_label(grades, new)}" if new else "本来就没有等级"
        raise CommandError(f"ℹ️ {label} {now}")
    changes = Changes()
    changes.set(customer, grade=new)
    shown = grade_label(grades, new) if new else "无"
    ctx.log(customer, Kind.GRADE, changes, text=shown)
    before = f"{grade_label(grades, old)} → " if old else ""
    return OutgoingMessage(f"✅ {label}｜等级 {before}{shown}")


grade.help_lines = meanings  # type: ignore[attr-defined]
