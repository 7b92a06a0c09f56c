"""Sales stages: the ladder, user-typed stage names and stage inference from free-text notes.

Pure functions, no I/O. The caller applies forward-only logic; `infer_stage` only reports the
furthest stage a note *claims has happened*.

Inference policy (documented choice): a keyword only counts when it states a completed fact
(报价已发, 合同签了, 款到了 ...). It is ignored when its clause (text between punctuation or
whitespace) contains a negation or a future/intent marker before it (没, 未, 不, 准备, 打算,
计划, 要, 将, 等, 催, 下周, 明天 ...) or a question marker after it (吗, 没, ?). So
"准备报价" / "下周报价" / "等回款" / "催回款" / "签约了吗" never move the stage.

Payment rule (documented choice): a deal is 已回款 exactly when its recorded payments (/回款) cover
its contract amount; before that a signed deal stays 已签约 and shows 回款 x / y. Won (已签约,
已回款, 售后) and lost (输单) deals are closed: nothing is pending on them, so they have no follow-up.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from enum import StrEnum


class Stage(StrEnum):
    """A sales stage; the value is both what is stored and the Chinese name users see and type."""

    LEAD = "线索"
    ASSIGNED = "已分配"
    FOLLOWING = "跟进中"
    QUOTED = "已报价"
    SIGNED = "已签约"
    PAID = "已回款"
    AFTER_SALES = "售后"
    LOST = "输单"

    @property
    def label(self) -> str:
        """The Chinese name shown in replies (the stored value itself)."""
        return self.value


class Status(StrEnum):
    """A customer's status, derived from its stage; stored as these English words."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"

    @property
    def label(self) -> str:
        """The Chinese name shown in replies."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {Status.OPEN: "进行中", Status.WON: "赢单", Status.LOST: "输单"}

LADDER: tuple[Stage, ...] = (
    Stage.LEAD,
    Stage.ASSIGNED,
    Stage.FOLLOWING,
    Stage.QUOTED,
    Stage.SIGNED,
    Stage.PAID,
    Stage.AFTER_SALES,
)
LOST = Stage.LOST
ALL_STAGES: tuple[Stage, ...] = LADDER + (LOST,)
WON_STAGES: frozenset[Stage] = frozenset({Stage.SIGNED, Stage.PAID, Stage.AFTER_SALES})


def stage_index(stage: str) -> int:
    """Position of `stage` in LADDER; -1 for LOST. Raises ValueError for unknown stages."""
    if stage == LOST:
        return -1
    return LADDER.index(Stage(stage))


def status_for(stage: str) -> Status:
    """Customer status for a stage: lost, won or open."""
    if stage == LOST:
        return Status.LOST
    if stage in WON_STAGES:
        return Status.WON
    return Status.OPEN


def is_closed(stage: str) -> bool:
    """Won or lost: no follow-up is pending on the deal any more."""
    return status_for(stage) is not Status.OPEN


def fully_paid(amount: Decimal | None, paid: Decimal | None) -> bool:
    """Recorded payments cover a known contract amount."""
    return amount is not None and amount > 0 and (paid or Decimal(0)) >= amount


def payment_stage(amount: Decimal | None, paid: Decimal | None) -> Stage:
    """The won stage the payments give a signed deal: 已回款 when fully paid, else 已签约."""
    return Stage.PAID if fully_paid(amount, paid) else Stage.SIGNED


_ALIASES: dict[Stage, tuple[str, ...]] = {
    Stage.LEAD: ("线索", "新线索", "潜客", "潜在客户", "新客户", "lead"),
    Stage.ASSIGNED: ("已分配", "分配", "分配了", "已指派", "指派", "assigned"),
    Stage.FOLLOWING: (
        "跟进中",
        "跟进",
        "在跟进",
        "正在跟进",
        "沟通中",
        "洽谈中",
        "洽谈",
        "following",
    ),
    Stage.QUOTED: ("已报价", "报价", "报过价", "报了价", "报价了", "已报", "报价已发", "quoted"),
    Stage.SIGNED: (
        "已签约",
        "签约",
        "签约了",
        "签单",
        "签了",
        "已签",
        "已签单",
        "签合同",
        "成交",
        "已成交",
        "赢单",
        "赢了",
        "中标",
        "won",
    ),
    Stage.PAID: (
        "已回款",
        "回款",
        "回款了",
        "已付款",
        "付款",
        "到账",
        "已到账",
        "收款",
        "已收款",
        "打款",
        "已打款",
        "paid",
    ),
    Stage.AFTER_SALES: ("售后", "售后中", "交付", "已交付", "交付中", "服务中", "delivered"),
    Stage.LOST: (
        "输单",
        "已输单",
        "丢单",
        "输了",
        "失败",
        "丢了",
        "黄了",
        "流失",
        "放弃",
        "lost",
    ),
}
_ALIAS_TO_STAGE: dict[str, Stage] = {
    alias: stage for stage, aliases in _ALIASES.items() for alias in aliases
}


def parse_stage_name(text: str) -> Stage | None:
    """Map a user-typed stage name (exact name or natural alias) to its canonical stage."""
    if not text:
        return None
    key = unicodedata.normalize("NFKC", text)
    key = re.sub(r"[\s\u200b-\u200d\u2060\ufeff]+", "", key).casefold()
    key = key.strip("。.!！~～")
    if key.endswith("阶段") and len(key) > 2:
        key = key[:-2]
    return _ALIAS_TO_STAGE.get(key)


# Positive "this happened" patterns per stage, in ladder order. Patterns must express completion.
_DONE = r"(?:了|过|完|好|出去)"
_AMT = r"\s*[¥￥]?\s*[\d零一二两三四五六七八九十百千万]"
_STAGE_PATTERNS: tuple[tuple[Stage, re.Pattern[str]], ...] = (
    (
        Stage.QUOTED,
        re.compile(
            r"已经?报价|已经?发(?:送)?报价|报价单?已经?(?:发|发送|提交|给|出|报)"
            r"|报价单?(?:发|发送|提交|给|报)" + _DONE + r"|发(?:送)?(?:了|过)报价"
            r"|报(?:了|过|完)价|出(?:了|过)报价|报价完成|报价" + _AMT
        ),
    ),
    (
        Stage.SIGNED,
        re.compile(
            r"已经?签(?!收)(?:约|单|合同|了|署|订)?|签约(?:了|成功|完成)|签单|签(?:了|好|完)|签下(?:了|来)"
            r"|签合同了|合同已?经?(?:签|盖章)(?:了|订|署|好|完|下)?|成交(?!价|率)|赢单"
            r"|中标|拿下(?:了)?(?:订单|单子|合同)|下单了"
        ),
    ),
    (
        Stage.PAID,
        re.compile(
            r"(?:款|钱)(?:已经?|都)?到(?:了|账)|已经?到账|到账了|已经?回款|回款(?:了|到账)"
            r"|回款" + _AMT + r"|已经?(?:打款|付款|付清|收款)|(?:打款|付款|收款)(?:了|完成)"
            r"|收到(?:了)?[^\s，,。;；]{0,5}款|款项已经?到"
        ),
    ),
    (
        Stage.AFTER_SALES,
        re.compile(
            r"已经?交付|交付(?:了|完成|完毕)|(?:进入|转入?|转到)售后|售后阶段"
            r"|已经?验收|验收(?:通过|完成|了)|已经?上线"
        ),
    ),
)

_CLAUSE_SPLIT = re.compile(r"[\s，,。；;！!？?\n、]")
_NEG_BEFORE = re.compile(
    r"没|未|不|别|待|等|催|尚|准备|打算|计划|预计|预期|将|要|需要|想|争取|希望|如果|若|是否"
    r"|下周|下礼拜|下星期|明天|后天|下个?月|月底|年底|回头|稍后|马上|尽快"
)
_NEG_AFTER = re.compile(r"吗|么|没|否|\?|？")


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Start and end of the clause containing text[start:end]."""
    left = start
    while left > 0 and not _CLAUSE_SPLIT.match(text[left - 1]):
        left -= 1
    right = end
    while right < len(text) and not _CLAUSE_SPLIT.match(text[right]):
        right += 1
    return left, right


def _is_negated(text: str, start: int, end: int) -> bool:
    """True when the clause around a keyword negates it or states it as future intent."""
    left, right = _clause_bounds(text, start, end)
    before = text[left:start]
    after = text[end:right]
    if _NEG_BEFORE.search(before):
        return True
    # A question or a negation after the keyword: "签约了吗", "报价发了没", "到账了?".
    if _NEG_AFTER.match(after) or "吗" in after:
        return True
    return right < len(text) and text[right] in "?？"


def infer_stage(text: str) -> Stage | None:
    """Furthest stage (已报价 or later, never 输单) that a free-text follow-up note implies."""
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text)
    best: Stage | None = None
    for stage, pattern in _STAGE_PATTERNS:
        for m in pattern.finditer(text):
            if _is_negated(text, m.start(), m.end()):
                continue
            if best is None or stage_index(stage) > stage_index(best):
                best = stage
            break
    return best
