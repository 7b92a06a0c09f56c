"""/客户 客户: the customer's card — owner, stage, amounts, dates, last 10 activities.

An open customer's card carries its buttons (✅ 已跟进, ⏰ …, 🙋 我来跟 when nobody owns it,
❌ 输单; handlers.card_actions) on its first section.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import Card, CardSection, OutgoingMessage
from handlers.common import next_follow_up
from handlers.context import Context
from handlers.format import (
    customer_buttons,
    customer_key,
    customer_label,
    fmt_money,
    member_label,
)
from handlers.grade_tags import grade_label, tags_text
from handlers.registry import Group, command
from models.activity import Activity, Kind
from models.parsing import sanitize_user_text, split_first
from models.stages import Stage, Status


@command(
    "客户",
    aliases=("kh", "customer", "查", "查客户"),
    usage="/客户 客户",
    summary="查看客户卡片：负责人、阶段、金额、下次跟进、最近 10 条记录",
    example="/客户 华为",
    group=Group.VIEW,
)
def customer_card(ctx: Context, args: str) -> OutgoingMessage:
    """Show one customer."""
    name, _ = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称")
    customer, _ = ctx.customer(name)
    status = Status(customer.status).label
    info = [
        f"负责人：{member_label(customer.owner)}｜阶段：{customer.stage}（{status}）",
        f"金额：{fmt_money(customer.amount)}"
        + (f"｜已回款：{fmt_money(customer.paid_amount)}" if customer.paid_amount else ""),
        f"下次跟进：{next_follow_up(customer, ctx.now.tzinfo) or '未设置'}",
    ]
    if customer.grade or customer.tags:
        grade = grade_label(ctx.settings.book.grades, customer.grade) if customer.grade else "无"
        info.append(f"等级：{grade}｜标签：{tags_text(customer.tags or []) or '无'}")
    if customer.source:
        info.append(f"来源：{sanitize_user_text(customer.source, 40)}")
    if customer.lost_reason and customer.stage == Stage.LOST:
        info.append(f"输单原因：{sanitize_user_text(customer.lost_reason, 60)}")
    activities = ctx.session.scalars(
        select(Activity)
        .where(Activity.customer_id == customer.id, Activity.undone_at.is_(None))
        .order_by(Activity.id.desc())
        .limit(10)
    ).all()
    history = []
    for a in activities:
        when = a.created_at.astimezone(ctx.now.tzinfo)
        line = f"{when.month}月{when.day}日 {member_label(a.member)} {Kind(a.kind).label}"
        if a.text:
            line += f"：{sanitize_user_text(a.text, 60)}"
        if a.stage_from and a.stage_to:
            line += f"（{a.stage_from} → {a.stage_to}）"
        if a.amount is not None:
            line += f"｜{fmt_money(a.amount)}"
        history.append(line)
    card = Card(
        title=f"📇 {customer_label(customer)}",
        sections=[
            CardSection(
                lines=info,
                key=customer_key(customer.id),
                buttons=customer_buttons(
                    customer.id, customer.stage, claim=customer.owner_id is None
                ),
            ),
            CardSection(heading="最近记录", lines=history or ["暂无"]),
        ],
    )
    return OutgoingMessage("", card=card)
