"""/跟进 客户 内容 [时间]: log a follow-up; the heart of the bot."""

from __future__ import annotations

from decimal import Decimal

from bot.messages import OutgoingMessage, Reply
from handlers.claiming import check_claim
from handlers.common import (
    check_new_name,
    end_of_day,
    passed_note,
    read_date,
    set_follow_up,
    summary_line,
)
from handlers.context import Context
from handlers.format import customer_label, fmt_money
from handlers.registry import command
from models.activity import Kind
from models.customer import Customer
from models.customers import CREATED, Changes, advance_stage, move_stage
from models.dates import DateHit, DateReading
from models.money import Approximate, Exact, Foreign, Unreadable, find_amounts
from models.parsing import normalize_name, split_first
from models.stages import Stage, Status, infer_stage


@command(
    "跟进",
    aliases=("gj", "follow", "fu", "记录"),
    usage="/跟进 客户 内容 [下次时间]",
    summary="记录一次跟进；新客户自动建档；写上时间就设好下次跟进，提到报价/签约/回款会推进阶段",
    example="/跟进 华为 报价已发 下周三回访",
)
def follow_up(ctx: Context, args: str) -> OutgoingMessage:
    """Log a follow-up, creating the customer if new, inferring stage and next date."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称和跟进内容")
    customer, rest = ctx.customer_or_new(name, rest)
    if customer is None:
        name = check_new_name(ctx, name)  # before "no content": 华为报价已发 is not a name
    if not rest:
        raise ctx.usage("请写上跟进内容")
    return log_follow_up(ctx, customer if customer is not None else name, rest)


def log_follow_up(
    ctx: Context, customer: Customer | str, rest: str, next_date: DateHit | None = None
) -> OutgoingMessage:
    """Log the follow-up ``rest`` on ``customer`` (a new name: created), and build the reply.

    ``next_date``: the next follow-up picked on a card's form, instead of a date in the note.
    """
    reply = Reply()
    changes = Changes()
    if isinstance(customer, str):
        customer = _create(ctx, customer)
        reply.line(
            f"🆕 新客户 {customer_label(customer)} 已建档，负责人 {ctx.mention(reply, ctx.sender)}"
        )
    else:
        ctx.require_can_change(customer, "跟进", claim=True)
        if customer.owner_id is None:
            check_claim(ctx, customer)  # the lead pool's cap and block apply to a first follow-up
            changes.set(customer, owner_id=ctx.sender.id)
            reply.line(
                f"👤 {customer_label(customer)} 的负责人设为 {ctx.mention(reply, ctx.sender)}"
            )
    if customer.stage in (Stage.LEAD, Stage.ASSIGNED):
        move_stage(customer, Stage.FOLLOWING, ctx.now, changes)
    inferred = infer_stage(rest)
    if inferred:
        advance_stage(customer, inferred, ctx.now, changes)
    lost = customer.stage == Stage.LOST  # logged, but a lost deal gets no date or amount changes
    picked = DateReading(hit=next_date) if next_date is not None else None
    dated = None if lost else (picked or read_date(ctx, rest))
    hit = dated.hit if dated else None
    if hit is not None:
        set_follow_up(customer, hit, changes)
    elif customer.next_follow_up_at is not None and customer.next_follow_up_at < end_of_day(
        ctx.now
    ):
        set_follow_up(customer, None, changes)
    found, unclear = (None, None) if lost else _note_amount(rest)
    # "回款5万到账" is a payment, not the deal size: keep the contract amount.
    paid = found is not None and inferred == Stage.PAID
    if found is not None and not paid:
        changes.set(customer, amount=found)
    changes.set(customer, last_activity_at=ctx.now)
    ctx.log(
        customer,
        Kind.FOLLOW_UP,
        changes,
        text=rest,
        amount=found,
        next_follow_up_at=hit.when if hit else None,
    )
    reply.line(summary_line(ctx, customer, changes))
    if dated is not None and dated.past is not None and hit is None:
        reply.line(passed_note(dated.past))
    if paid and found is not None:
        reply.line(
            f"ℹ️ 回款金额请用 /回款 {customer_label(customer)} {fmt_money(found)} 登记，会累计到已回款"
        )
    if unclear is not None:
        example = f"/跟进 {customer_label(customer)} 预算12万"
        reply.line(f"ℹ️ 金额未记录：{unclear.reason}，例如：{example}")
    if lost:
        reply.line(f"ℹ️ 该客户已输单；要重新跟进请用 /阶段 {customer_label(customer)} 跟进中")
    return reply.build()


def _note_amount(text: str) -> tuple[Decimal | None, Approximate | Foreign | Unreadable | None]:
    """The deal amount a note states (its first exact one), or the amount that is not exact.

    Any rough, foreign or unreadable amount in the note means none is recorded: 报价5万美元，
    服务费3千元 must not become a 3,000 元 deal.
    """
    exact: list[Decimal] = []
    for mention in find_amounts(text):
        reading = mention.reading
        if not isinstance(reading, Exact):
            return None, reading
        exact.append(reading.value)
    return (exact[0] if exact else None), None


def _create(ctx: Context, name: str) -> Customer:
    """A new customer owned by the sender, created by a follow-up (``name`` already checked)."""
    customer = Customer(
        chat_id=ctx.chat.id,
        name=name,
        key=normalize_name(name),
        aliases=[],
        owner_id=ctx.sender.id,
        stage=Stage.FOLLOWING,
        status=Status.OPEN,
        created_at=ctx.now,
        stage_entered_at=ctx.now,
    )
    ctx.session.add(customer)
    ctx.session.flush()
    ctx.log(customer, Kind.CREATE, Changes({CREATED: [None, True]}), stage_to=Stage.FOLLOWING)
    return customer
