"""/别名 客户 别名…: other names a customer goes by, so reps can type the short one."""

from __future__ import annotations

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.format import customer_label
from handlers.lookup import candidates
from handlers.registry import CommandError, command
from models.activity import Kind
from models.customers import Changes
from models.parsing import normalize_name, sanitize_user_text, split_first

MAX_ALIASES = 10


@command(
    "别名",
    aliases=("bm", "alias", "简称"),
    usage="/别名 客户 别名 [别名…]",
    summary="给客户加简称或别名，以后用别名也能找到它",
    example="/别名 华为技术有限公司 华为 HW",
    who="负责人、经理",
)
def alias(ctx: Context, args: str) -> OutgoingMessage:
    """Add aliases to a customer (each unique in the chat)."""
    name, rest = split_first(args)
    if not name or not rest:
        raise ctx.usage("请写上客户名称和别名")
    customer, rest = ctx.customer(name, rest)
    ctx.require_can_change(customer, "加别名")
    taken = {}
    for cand in candidates(ctx):
        if cand.key != customer.id:
            for other in (cand.name, *cand.aliases):
                taken[normalize_name(other)] = cand.name
    aliases = list(customer.aliases or [])
    known = {normalize_name(a) for a in aliases} | {customer.key}
    added = []
    for word in rest.split():
        key = normalize_name(word)
        if not key or key in known:
            continue
        if key in taken:
            raise CommandError(
                f"❌ “{sanitize_user_text(word, 20)}”已经是客户 {sanitize_user_text(taken[key], 40)} 的名称或别名"
            )
        if len(word) > 40:
            raise ctx.usage("别名太长了（最多 40 个字）")
        aliases.append(word)
        known.add(key)
        added.append(word)
    if not added:
        raise CommandError(f"ℹ️ 这些别名 {customer_label(customer)} 已经有了")
    if len(aliases) > MAX_ALIASES:
        raise ctx.usage(f"一个客户最多 {MAX_ALIASES} 个别名")
    changes = Changes()
    changes.set(customer, aliases=aliases)
    ctx.log(customer, Kind.ALIAS, changes, text=" ".join(added))
    shown = "、".join(sanitize_user_text(a, 40) for a in aliases)
    return OutgoingMessage(f"✅ {customer_label(customer)} 的别名：{shown}")
