"""/标签 客户 +重点 +老客户 -待定: free words on a customer, for lists (``/列表 #重点``) and search."""

from __future__ import annotations

import re

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.format import customer_label
from handlers.grade_tags import MAX_TAGS, tag_key, tag_problem, tags_text
from handlers.registry import CommandError, command
from models.activity import Kind
from models.customers import Changes
from models.parsing import split_first

_TOKEN = re.compile(r"([+\-])?\s*#?([^\s+\-#,，、;；]+)")


@command(
    "标签",
    aliases=("bq", "tag", "tags"),
    usage="/标签 客户 +标签 -标签",
    summary="给客户加（+）或去掉（-）标签，列表里可以按 #标签 筛选",
    example="/标签 华为 +重点 +老客户 -待定",
    who="负责人、经理",
)
def tags(ctx: Context, args: str) -> OutgoingMessage:
    """Add and remove a customer's tags in one go (all or nothing)."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称和标签")
    customer, rest = ctx.customer(name, rest)
    ctx.require_can_change(customer, "改标签")
    ops = [(sign or "+", word) for sign, word in _TOKEN.findall(rest)]
    if not ops:
        raise ctx.usage("请写要加的标签（+标签）或要去掉的标签（-标签）")
    for _, word in ops:
        problem = tag_problem(word)
        if problem:
            raise ctx.usage(problem)
    current = list(customer.tags or [])
    added: list[str] = []
    removed: list[str] = []
    had: list[str] = []
    missing: list[str] = []
    for sign, word in ops:
        keys = [tag_key(t) for t in current]
        if sign == "+":
            if tag_key(word) in keys:
                had.append(word)
                continue
            current.append(word)
            added.append(word)
        elif tag_key(word) in keys:
            removed.append(current.pop(keys.index(tag_key(word))))
        else:
            missing.append(word)
    label = customer_label(customer)
    if current == list(customer.tags or []):
        now = tags_text(current) or "无"
        raise CommandError(f"ℹ️ {label} 的标签没有变化：{now}")
    if len(current) > MAX_TAGS:
        raise ctx.usage(f"一个客户最多 {MAX_TAGS} 个标签，先用 -标签 去掉一些")
    changes = Changes()
    changes.set(customer, tags=current)
    done = []
    if added:
        done.append(f"加 {tags_text(added)}")
    if removed:
        done.append(f"去掉 {tags_text(removed)}")
    ctx.log(customer, Kind.TAGS, changes, text="；".join(done))
    if had:
        done.append(f"已有 {tags_text(had)}")
    if missing:
        done.append(f"本来没有 {tags_text(missing)}")
    return OutgoingMessage(f"✅ {label}｜标签：{tags_text(current) or '无'}（{'；'.join(done)}）")
