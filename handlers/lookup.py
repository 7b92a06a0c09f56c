"""Which customer a typed name means, and the numbered question when that is not certain.

The ladder is ``models.names.match_name``; this module decides what the bot does with it:
- one certain customer (exact, alias, core name, a sure near match named in the reply): used;
- several plausible customers: a numbered question, nothing saved;
- a name that is not known but close to a known one (``close_names``): a numbered question,
  with "新建客户 …" as the last choice when the command may create one;
- nothing close: a new customer where the command creates one, else a one-line refusal.

Deleted customers (/删除) are never candidates. Their names stay taken (the key is unique per
chat): typing one exactly is refused with a pointer to /恢复, so /新客户 and /跟进 never make a
second 华为 next to the deleted one.

The answer (a bare number, read by ``handlers.router``) re-runs the original command with the
chosen customer's id fixed for the typed name, and with the original message's mentions, so
nothing is matched twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import bindparam, select

from bot.messages import Mention
from handlers.format import customer_label
from handlers.registry import CommandError
from models.customer import Customer, live
from models.customers import MERGED_KEY
from models.names import (
    MAX_OPTIONS,
    Candidate,
    Mode,
    judge,
    match_name,
    normalize_name,
    split_known_prefix,
)
from models.parsing import find_amount, find_when, sanitize_user_text
from models.stages import infer_stage

if TYPE_CHECKING:
    from handlers.context import Context

PENDING_MINUTES = 10
_BY_KEY = select(Customer).where(Customer.chat_id == bindparam("c"), Customer.key == bindparam("k"))
# Words that make the rest of a glued token a note (华为报价已发, 华为拜访): not part of a name.
_NOTE_WORDS = (
    "拜访",
    "回访",
    "来访",
    "到访",
    "电话",
    "沟通",
    "联系",
    "见面",
    "面谈",
    "会议",
    "开会",
    "约",
    "聊",
    "谈",
    "发",
    "签",
    "催",
    "演示",
    "询价",
    "样品",
    "合同",
    "方案",
    "对接",
    "确认",
    "反馈",
    "需求",
    "付款",
    "微信",
    "邮件",
    "跟进",
)


class Question(TypedDict):
    """An open numbered question, stored on the member (JSON) until answered or replaced."""

    command: str
    args: str
    query: str
    options: list[str]
    choices: list[int | None]  # customer ids; None: create the typed name
    mentions: list[dict[str, str]]
    expires_at: str


class Ambiguous(CommandError):
    """Several customers fit a name: the reply is a numbered question, stored on the member."""

    def __init__(self, text: str, pending: Question) -> None:
        super().__init__(text)
        self.pending = pending


@dataclass
class Replay:
    """An answered question: the typed name now means this customer (None: a new one)."""

    query: str
    customer_id: int | None
    mentions: list[Mention] = field(default_factory=list)


def candidates(ctx: Context) -> list[Candidate]:
    """This chat's customers as match candidates."""
    rows = ctx.session.execute(
        select(Customer.id, Customer.name, Customer.aliases).where(
            Customer.chat_id == ctx.chat.id, live()
        )
    )
    return [Candidate(id_, name, tuple(aliases or ())) for id_, name, aliases in rows]


def customer(ctx: Context, query: str, rest: str = "") -> tuple[Customer, str]:
    """The known customer a typed name means, and the rest; asks or refuses when not certain."""
    found, rest = _find(ctx, query, rest, "find")
    if found is None:  # "find" never offers a new customer; kept for the type
        raise ctx.usage(f"没有找到客户“{sanitize_user_text(query, 30)}”，请检查名称")
    return found, rest


def customer_or_new(
    ctx: Context, query: str, rest: str = "", new: bool = False
) -> tuple[Customer | None, str]:
    """The customer a typed name means, or None where the command is to create it.

    ``new``: the user asked to create this name, so even a sure near match is a question.
    """
    return _find(ctx, query, rest, "create" if new else "follow")


def _find(ctx: Context, query: str, rest: str, mode: Mode) -> tuple[Customer | None, str]:
    """Resolve a typed customer name in ``mode`` (see ``models.names.judge``); (customer, rest)."""
    if ctx.target is not None:  # a tap on a card names its customer by id
        return ctx.target, rest
    if ctx.replay is not None and ctx.replay.query == query:
        return _replayed(ctx, ctx.replay, rest, mode != "find")
    key = normalize_name(query)
    if key:  # the usual case: typed as stored, one indexed query
        known = ctx.session.scalars(_BY_KEY, {"c": ctx.chat.id, "k": key}).first()
        if known is not None:
            if known.deleted_at is not None:
                raise deleted_refusal(known)
            return known, rest
    cands = candidates(ctx)
    match = match_name(query, cands)
    if match.kind in ("fuzzy", "none") and mode != "create":
        glued = _glued(ctx, query, cands)
        if glued is not None:
            found, tail = glued
            if match.kind == "fuzzy":
                _note_near_match(ctx, query, found)
            return found, f"{tail} {rest}".strip()
    verdict = judge(query, cands, mode, match)
    shown = sanitize_user_text(query, 30)
    if verdict.kind == "match":
        return _get(ctx, verdict.key), rest
    if verdict.kind == "near":
        found = _get(ctx, verdict.key)
        _note_near_match(ctx, query, found)
        return found, rest
    if verdict.kind == "new":
        if mode == "follow":
            _refuse_glued_deleted(ctx, query)
        if verdict.options:  # 中石化 next to 中石油: most likely another company, say so
            names = "、".join(sanitize_user_text(c.name, 40) for c in verdict.options[:3])
            ctx.notes.append(f"（已有相近的客户 {names}；如果指的是它，请 /撤销 后重发）")
        return None, rest
    if verdict.kind == "none":
        raise ctx.usage(f"没有找到客户“{shown}”，请检查名称")
    if verdict.offer_new and verdict.reason == "close":
        raise _new_question(ctx, query, verdict.options)
    if verdict.reason == "several":
        title = f"🤔 “{shown}”对应多个客户，回复数字选择："
    elif len(verdict.options) == 1:
        title = f"🤔 没有找到“{shown}”，是指下面这个客户吗？回复 1 确认："
    else:
        title = f"🤔 没有找到“{shown}”，是指下面哪个客户？回复数字选择："
    raise _question(ctx, title, query, verdict.options, verdict.offer_new)


def _get(ctx: Context, customer_id: int | None) -> Customer:
    """A customer of this chat by id (it was just listed, so it exists)."""
    customer = ctx.session.get(Customer, customer_id)
    assert customer is not None and customer.chat_id == ctx.chat.id
    return customer


def _replayed(
    ctx: Context, replay: Replay, rest: str, may_create: bool
) -> tuple[Customer | None, str]:
    """The customer the sender chose in answer to the question about this name."""
    if replay.customer_id is None:
        if not may_create:
            raise CommandError("⌛ 这个选择已过期，请重新发送原来的命令")
        return None, rest
    customer = ctx.session.get(Customer, replay.customer_id)
    if customer is None or customer.chat_id != ctx.chat.id or customer.deleted_at is not None:
        raise CommandError("❌ 选中的客户已经不在了（可能刚被撤销），请重新发送原来的命令")
    return customer, rest


def deleted_refusal(customer: Customer) -> CommandError:
    """The reply to a deleted customer's name: its name stays taken until /恢复."""
    label = customer_label(customer)
    return CommandError(f"❌ 客户 {label} 已删除，要继续用请先恢复\n例如：/恢复 {label}")


def _refuse_glued_deleted(ctx: Context, query: str) -> None:
    """``华为报价已发`` with 华为 deleted: refused like the bare name, not a new customer."""
    rows = ctx.session.execute(
        select(Customer.id, Customer.name, Customer.aliases).where(
            Customer.chat_id == ctx.chat.id,
            Customer.deleted_at.is_not(None),
            Customer.key.not_like(f"{MERGED_KEY}%"),
        )
    )
    gone = [Candidate(id_, name, tuple(aliases or ())) for id_, name, aliases in rows]
    split = split_known_prefix(query, gone) if gone else None
    if split is None:
        return
    cand, tail = split
    if len(tail) >= 2 and not _shortens(query, cand) and _reads_as_note(ctx, tail):
        raise deleted_refusal(_get(ctx, cand.key))


def _glued(ctx: Context, query: str, cands: list[Candidate]) -> tuple[Customer, str] | None:
    """``华为报价已发``: a known name glued to a note, when what follows the name reads as a note.

    A shortening (``华为技术`` for 华为技术有限公司) or a tail that could be part of a name
    (``华为终端``, ``华为云``) is not split: that is a question about the name instead.
    """
    split = split_known_prefix(query, cands)
    if split is None:
        return None
    cand, tail = split
    if len(tail) < 2 or _shortens(query, cand) or not _reads_as_note(ctx, tail):
        return None
    return _get(ctx, cand.key), tail


def _reads_as_note(ctx: Context, tail: str) -> bool:
    """What follows a known name is a note: a stage word, an amount, a date or a note verb."""
    if infer_stage(tail) or find_amount(tail) is not None:
        return True
    if any(word in tail for word in _NOTE_WORDS):
        return True
    return find_when(tail, ctx.now) is not None


def _shortens(token: str, candidate: Candidate) -> bool:
    """True when ``token`` is part of one of the candidate's names (a shortening, not name+note)."""
    key = normalize_name(token)
    return any(key in normalize_name(n) for n in candidate.names)


def _note_near_match(ctx: Context, query: str, customer: Customer) -> None:
    """Tell the sender which customer a not-quite-matching name was taken for."""
    ctx.notes.append(f"（“{sanitize_user_text(query, 30)}”按 {customer_label(customer)} 处理）")


def _new_question(ctx: Context, query: str, near: list[Candidate]) -> Ambiguous:
    """``没有找到客户“海康卫视”。是 … 吗？回复 1 是，2 新建客户 海康卫视``."""
    shown = sanitize_user_text(query, 30)
    if len(near) == 1:
        name = sanitize_user_text(near[0].name, 40)
        title = f"🤔 没有找到客户“{shown}”。是 {name} 吗？回复 1 是，2 新建客户 {shown}"
        return _question(ctx, title, query, near, True, listed=False)
    title = f"🤔 没有找到客户“{shown}”，是下面哪个客户？回复数字选择："
    return _question(ctx, title, query, near, True)


def _question(
    ctx: Context,
    title: str,
    query: str,
    options: list[Candidate],
    new: bool,
    listed: bool = True,
) -> Ambiguous:
    """A numbered question about which customer was meant; the answer re-runs the command."""
    shown = [sanitize_user_text(c.name, 40) for c in options[:MAX_OPTIONS]]
    choices: list[int | None] = [c.key for c in options[:MAX_OPTIONS]]
    if new:
        shown.append(f"新建客户 {sanitize_user_text(query, 30)}")
        choices.append(None)
    lines = [title]
    if listed:
        lines += [f"{i}. {name}" for i, name in enumerate(shown, 1)]
    pending: Question = {
        "command": ctx.command.name,
        "args": ctx.args,
        "query": query,
        "options": shown,
        "choices": choices,
        "mentions": [asdict(m) for m in ctx.mentions],
        "expires_at": (ctx.now + timedelta(minutes=PENDING_MINUTES)).isoformat(),
    }
    return Ambiguous("\n".join(lines), pending)
