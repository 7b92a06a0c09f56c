"""Column headers of a customer book: the names Chinese CRMs and hand-made sheets give them.

Pure, no I/O. A header is compared folded (NFKC, casefold, no spaces, no ``*`` marking a required
column, no unit in brackets); the first name of each field is the one ``genjin export`` writes,
so an exported book imports unchanged. A unit of 万 in the header (金额（万元）) multiplies plain
numbers in that column by 10,000.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

# field → header names, the first one canonical (written by the export).
FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("客户名称", "公司名称", "客户", "客户名", "客户全称", "企业名称", "单位名称", "名称"),
    "aliases": ("别名", "简称", "客户简称", "公司简称"),
    "owner": (
        "负责人",
        "销售",
        "跟进人",
        "归属人",
        "销售负责人",
        "客户负责人",
        "所属销售",
        "销售人员",
        "业务员",
    ),
    "stage": ("阶段", "销售阶段", "商机阶段", "客户阶段", "状态", "客户状态", "跟进状态"),
    "grade": ("等级", "客户等级", "级别", "客户级别"),
    "tags": ("标签", "客户标签"),
    "source": ("来源", "线索来源", "客户来源", "渠道", "获客渠道"),
    "amount": ("金额", "预计金额", "合同金额", "商机金额", "成交金额", "预计成交金额", "预算"),
    "paid_amount": ("已回款", "回款金额", "已回款金额", "回款"),
    "next_follow_up_at": (
        "下次跟进",
        "下次联系时间",
        "下次跟进时间",
        "下次跟进日期",
        "下次联系",
        "下次联系日期",
        "计划跟进时间",
    ),
    "last_activity_at": (
        "最后跟进",
        "最近跟进时间",
        "最后跟进时间",
        "最近跟进",
        "最后跟进日期",
        "最近跟进日期",
        "最后联系时间",
        "最近联系时间",
    ),
    "note": ("备注", "跟进记录", "跟进内容", "最新跟进记录", "说明"),
    "lost_reason": ("输单原因", "丢单原因", "流失原因"),
    "created_at": ("建档时间", "创建时间", "录入时间", "创建日期"),
}

# The 目标 sheet (monthly targets per member).
TARGET_FIELDS: dict[str, tuple[str, ...]] = {
    "owner": ("负责人", "销售", "成员", "姓名"),
    "month": ("月份", "月", "目标月份"),
    "amount": ("目标金额", "目标", "金额"),
}

# The 跟进记录 sheet (the history): the export's headers first, then a CRM follow-up log's.
HISTORY_FIELDS: dict[str, tuple[str, ...]] = {
    "at": ("时间", "跟进时间", "记录时间", "联系时间", "日期", "跟进日期", "创建时间"),
    "name": ("客户名称", "客户", "公司名称", "客户名", "客户全称", "企业名称", "单位名称"),
    "member": ("成员", "记录人", "跟进人", "负责人", "销售", "创建人", "业务员"),
    "kind": ("类型", "记录类型", "跟进方式", "跟进类型"),
    "text": ("内容", "跟进内容", "记录内容", "跟进记录", "备注", "说明"),
    "stage_change": ("阶段变化",),
    "amount": ("金额",),
    "next_follow_up_at": ("下次跟进", "下次跟进时间", "下次联系时间", "下次联系"),
    "undone": ("已撤销",),
}

# The Chinese column name of each field, as the export writes it and problems name it.
LABELS: dict[str, str] = {field: names[0] for field, names in FIELDS.items()}

_UNIT = re.compile(r"[(（\[【]\s*([^)）\]】]*)\s*[)）\]】]")
_SPACES = re.compile(r"\s+")


def fold_header(text: str) -> str:
    """A header as compared: NFKC, casefolded, no spaces, no ``*``, no bracketed unit."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _UNIT.sub("", folded)
    return _SPACES.sub("", folded).strip("*:：")


def _index(fields: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, int]]:
    """folded header → (field, rank of that name among the field's names)."""
    return {
        fold_header(n): (f, rank) for f, names in fields.items() for rank, n in enumerate(names)
    }


_CUSTOMER_INDEX = _index(FIELDS)
_TARGET_INDEX = _index(TARGET_FIELDS)
_HISTORY_INDEX = _index(HISTORY_FIELDS)


@dataclass(frozen=True)
class Column:
    """One mapped column: its position, the header as written, the field and a unit factor."""

    index: int
    header: str
    field: str
    factor: Decimal = Decimal(1)


@dataclass
class Mapping:
    """How a header row maps: the columns used, unknown headers, and columns left out."""

    columns: list[Column]
    unknown: list[str]
    ignored: list[str]  # a second column for a field already taken, or mapped to "-"

    def has(self, field: str) -> bool:
        """True when some column feeds ``field``."""
        return any(c.field == field for c in self.columns)


class MapError(ValueError):
    """A --map override that cannot be understood (one line, Chinese)."""


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``['客户全称=name', '序号=-']`` → {folded header: field or "-"}; MapError when unclear."""
    known = {**{f: f for f in FIELDS}, **{fold_header(n): f for f, n in LABELS.items()}}
    out: dict[str, str] = {}
    for item in items:
        header, sep, target = item.partition("=")
        if not sep or not header.strip():
            raise MapError(f"--map “{item}”：请写成 表头=字段，例如 客户全称=name")
        target = target.strip()
        if target in ("", "-"):
            out[fold_header(header)] = "-"
            continue
        field = known.get(target) or known.get(fold_header(target))
        if field is None:
            fields = "、".join(FIELDS)
            raise MapError(f"--map “{item}”：没有字段“{target}”，可用的字段：{fields}")
        out[fold_header(header)] = field
    return out


def _factor(header: str) -> Decimal:
    """10,000 when the header gives the unit 万 (金额（万元）, 金额/万), else 1."""
    folded = unicodedata.normalize("NFKC", header)
    units = _UNIT.findall(folded)
    if any("万" in u for u in units) or folded.rstrip().endswith(("/万", "/万元")):
        return Decimal(10000)
    return Decimal(1)


def map_headers(
    cells: list[object],
    overrides: dict[str, str] | None = None,
    *,
    targets: bool = False,
    history: bool = False,
) -> Mapping:
    """Map a header row to fields; the best-ranked name wins when two columns claim a field.

    ``targets`` reads a 目标 header, ``history`` a 跟进记录 one; else a customer header.
    """
    index = _TARGET_INDEX if targets else _HISTORY_INDEX if history else _CUSTOMER_INDEX
    overrides = overrides or {}
    best: dict[str, tuple[int, Column]] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    for position, cell in enumerate(cells):
        if cell is None or not str(cell).strip():
            continue
        header = " ".join(str(cell).split())
        folded = fold_header(header.replace("/万元", "").replace("/万", ""))
        if folded in overrides:
            if overrides[folded] == "-":
                ignored.append(header)
                continue
            field, rank = overrides[folded], -1
        elif folded in index:
            field, rank = index[folded]
        else:
            unknown.append(header)
            continue
        column = Column(position, header, field, _factor(header))
        taken = best.get(field)
        if taken is None or rank < taken[0]:
            if taken is not None:
                ignored.append(taken[1].header)
            best[field] = (rank, column)
        else:
            ignored.append(header)
    columns = sorted((c for _, c in best.values()), key=lambda c: c.index)
    return Mapping(columns, unknown, ignored)
