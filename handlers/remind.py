"""/提醒 客户 时间 [事项]: set the next follow-up."""

from __future__ import annotations

from bot.messages import OutgoingMessage, Reply
from handlers.common import read_date, set_follow_up, summary_line
from handlers.context import Context
from handlers.registry import command
from models.activity import Kind
from models.customer import Customer
from models.customers import Changes
from models.dates import DateHit
from models.parsing import sanitize_user_text, split_first


@command(
    "提醒",
    aliases=("tx", "remind", "下次"),
    usage="/提醒 客户 时间 [事项]",
    summary=(
        "设定下次跟进时间，到期当天早上会提醒负责人；写了几点的，提前 15 分钟（/设置 提前提醒）"
        "在群里 @负责人，落在下班时间或休息日的改在下一个工作时段开始时提醒；之后跟进过就不再提醒"
    ),
    example="/提醒 华为 下周三下午3点 送样品",
    who="负责人、经理",
)
def remind(ctx: Context, args: str) -> OutgoingMessage:
    """Set the customer's next follow-up date (and what it is about)."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称和时间")
    customer, rest = ctx.customer(name, rest)
    ctx.require_can_change(customer, "设提醒")
    if not rest:
        raise ctx.usage("请写上提醒时间")
    dated = read_date(ctx, rest)
    hit = dated.hit
    if hit is None and dated.past is not None:
        raise ctx.usage("这个时间已经过去了，请写一个以后的时间")
    if hit is None:
        raise ctx.usage(
            f"没看懂时间“{sanitize_user_text(rest, 30)}”（要写以后的时间），"
            "可以写 明天、下周三、12月5日下午3点"
        )
    note = (rest[: hit.span[0]] + rest[hit.span[1] :]).strip()
    return set_reminder(ctx, customer, hit, note)


def set_reminder(ctx: Context, customer: Customer, hit: DateHit, note: str = "") -> OutgoingMessage:
    """Move the next follow-up of ``customer`` to ``hit`` (also ⏰ on a card) and build the reply."""
    ctx.require_can_change(customer, "设提醒")
    changes = Changes()
    set_follow_up(customer, hit, changes)
    ctx.log(customer, Kind.REMINDER, changes, text=note, next_follow_up_at=hit.when)
    reply = Reply().line(summary_line(ctx, customer, changes, prefix="⏰"))
    if note:
        reply.line(f"事项：{sanitize_user_text(note, 100)}")
    return reply.build()
