"""Importing a customer book (a sheet from Excel or another CRM) into a chat, in one transaction.

Rules (docs/import.md is the user's version):
- The 客户 sheet (or ``sheet``, else the first sheet whose header names the customer) is read;
  its header is the first of the top 20 rows naming the customer and another known column, so
  title rows above it are skipped. Blank rows and 合计 rows are skipped.
- Values go through the chat's readers: ``models.money`` for amounts, ``models.dates`` for dates
  (plus real date cells and Excel serial numbers), ``models.stages`` for stage names. A value
  that cannot be read is a problem naming its row and column; the field is left out, the row
  still imports. A row without a name, a repeated name or a deleted customer is skipped.
- A row matches a customer of the chat by exact name or alias (``normalize_name``). An empty
  cell changes nothing; aliases are added to the known ones; tags are replaced.
- Owners are chat members matched by name; an unknown one is a problem and left unset (import
  again once they have spoken in the chat).
- Every created or changed customer gets one ``Kind.IMPORT`` activity carrying its changes (so
  history and undo work) and the row's 备注. Import rows never set ``stage_from``/``stage_to``:
  a book of won deals is not a day of wins in the reports.
- The same book imported twice changes nothing the second time.
- A 目标 sheet (负责人, 月份, 目标金额) sets monthly targets.
- A 跟进记录 sheet (the export's, or a CRM's follow-up log) adds the history: one activity per
  row at its own time, with its member, kind, text, stage change, amount and next follow-up;
  customers are not changed by it. A row whose (customer, minute, kind, text) the chat already
  has is "已有" (counted, so two equal rows import as two), so importing twice adds nothing.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from models.activity import Activity, Kind
from models.book_headers import (
    FIELDS,
    Column,
    Mapping,
    fold_header,
    map_headers,
)
from models.book_read import BookError, Sheet
from models.chat import Chat
from models.customer import Customer
from models.customers import CREATED, IMPORT_ENTRY, Changes, move_stage
from models.dates import read_exact
from models.member import Member
from models.money import MAX_MONEY, Approximate, Exact, Foreign, read_amount
from models.names import normalize_name
from models.parsing import sanitize_user_text
from models.stages import Stage, Status, is_closed, parse_stage_name, payment_stage, status_for
from models.target import Target

GRADES = ("A", "B", "C", "D")
# Stage words of CRMs and hand-made sheets that the chat's stage names do not cover.
CRM_STAGES: dict[str, Stage] = {
    "意向": Stage.FOLLOWING,
    "有意向": Stage.FOLLOWING,
    "意向客户": Stage.FOLLOWING,
    "初步接触": Stage.FOLLOWING,
    "初步沟通": Stage.FOLLOWING,
    "需求确认": Stage.FOLLOWING,
    "需求沟通": Stage.FOLLOWING,
    "方案": Stage.QUOTED,
    "方案报价": Stage.QUOTED,
    "商务谈判": Stage.QUOTED,
    "谈判": Stage.QUOTED,
    "谈判中": Stage.QUOTED,
    "待分配": Stage.LEAD,
    "未跟进": Stage.LEAD,
    "已流失": Stage.LOST,
    "无效": Stage.LOST,
}
HEADER_ROWS = 20  # rows looked at for the header
CUSTOMER_SHEET = "客户"
TARGET_SHEET = "目标"
# Sheets holding the history: the export's name first, then names CRMs give a follow-up log.
HISTORY_SHEETS = ("跟进记录", "跟进日志", "跟进历史", "联系记录", "活动记录")
_KINDS: dict[str, Kind] = {**{k.label: k for k in Kind}, **{k.value: k for k in Kind}}
_STAGE_ARROW = re.compile(r"\s*(?:→|->|=>|至|到)\s*")
_TOTAL_ROWS = ("合计", "总计", "小计")
_SPLIT = re.compile(r"[,，、;；|/\n]+")
_PLAIN_NUMBER = re.compile(r"[+-]?[\d,]*\.?\d+")
_SERIAL = (20000, 80000)  # Excel serial dates 1954..2119; other numbers are not dates
_EXCEL_EPOCH = datetime(1899, 12, 30)
_CENT = Decimal("0.01")
_MONTH = re.compile(r"(\d{4})\s*(?:[-/.年])\s*(\d{1,2})\s*月?(?:份)?")
_NAME_ROOM = 100
_SOURCE_ROOM = 100
_REASON_ROOM = 200


class _Draft:
    """A customer about to be created: Customer's columns as plain attributes.

    Twenty thousand ORM objects cost seconds to build and flush; drafts are bulk-inserted.
    """

    id: int | None
    key: str

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(columns)

    def columns(self) -> dict[str, Any]:
        """The row to insert."""
        return {name: getattr(self, name) for name in _CUSTOMER_COLUMNS}


_CUSTOMER_COLUMNS = [c.key for c in Customer.__table__.columns if c.key != "id"]


class _Skip(Exception):
    """A field value that cannot be read; its text is the reason (Chinese)."""


@dataclass
class ImportReport:
    """What an import did (or, rolled back, would do): counts, columns, problems by row."""

    file: str
    sheet: str
    header_row: int
    columns: list[Column]
    unknown: list[str]
    ignored: list[str]
    other_sheets: list[str]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    targets: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    )
    has_targets: bool = False
    history: dict[str, int] = field(
        default_factory=lambda: {"rows": 0, "added": 0, "existing": 0, "skipped": 0}
    )
    history_sheet: str | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self, limit: int = 200) -> list[str]:
        """The preview in Chinese, problems (up to ``limit``) last."""
        out = [
            f"文件 {self.file}｜工作表“{self.sheet}”｜表头在第 {self.header_row} 行",
            f"客户：新建 {self.created} 个，更新 {self.updated} 个，无变化 {self.unchanged} 个，"
            f"跳过 {self.skipped} 行",
        ]
        if self.has_targets:
            t = self.targets
            out.append(
                f"目标：新建 {t['created']} 条，更新 {t['updated']} 条，无变化 {t['unchanged']} 条，"
                f"跳过 {t['skipped']} 行"
            )
        if self.history_sheet is not None:
            h = self.history
            skipped = f"，跳过 {h['skipped']} 条" if h["skipped"] else ""
            out.append(
                f"跟进记录 {h['rows']} 条：新增 {h['added']}，已有 {h['existing']}{skipped}"
                f"（工作表“{self.history_sheet}”）"
            )
        shown = [f"{c.header}→{FIELD_LABELS[c.field]}" for c in self.columns]
        out.append("导入的列：" + "、".join(shown))
        if self.unknown:
            out.append("未识别的列（未导入，可用 --map 指定）：" + "、".join(self.unknown))
        if self.ignored:
            out.append("重复或忽略的列（未导入）：" + "、".join(self.ignored))
        if self.other_sheets:
            out.append("未读取的工作表：" + "、".join(self.other_sheets))
        if self.problems:
            out.append(f"问题 {len(self.problems)} 条：")
            out += [f"  {p}" for p in self.problems[:limit]]
            if len(self.problems) > limit:
                out.append(f"  ……另有 {len(self.problems) - limit} 条")
        else:
            out.append("没有问题")
        return out


FIELD_LABELS: dict[str, str] = {f: names[0] for f, names in FIELDS.items()}


def fold_person(name: str) -> str:
    """A person's name as compared: NFKC, casefolded, inner whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def _text(value: Any) -> str:
    """A cell as text: whole floats without '.0', dates as ISO."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    return str(value).strip()


def _shown(value: Any) -> str:
    """A cell safe to echo in a problem line."""
    return sanitize_user_text(_text(value), 20)


# -- reading one value ---------------------------------------------------------------------


def read_money(value: Any, factor: Decimal = Decimal(1), *, zero: bool = False) -> Decimal | None:
    """Yuan from a number cell or text (5万, ¥30,000, 三万五); None for 0 unless ``zero``."""
    if isinstance(value, bool):
        raise _Skip("看不懂")
    if isinstance(value, int | float | Decimal):
        try:
            amount = Decimal(str(value)) * factor
        except InvalidOperation:
            raise _Skip("看不懂") from None
    else:
        text = _text(value)
        if _PLAIN_NUMBER.fullmatch(text.replace(" ", "")):
            try:
                amount = Decimal(text.replace(",", "").replace(" ", "")) * factor
            except InvalidOperation:
                raise _Skip("看不懂") from None
        else:
            reading = read_amount(text)
            if isinstance(reading, Approximate):
                raise _Skip("是约数")
            if isinstance(reading, Foreign):
                raise _Skip(f"是{reading.currency}，只能记人民币")
            if not isinstance(reading, Exact):
                raise _Skip("看不懂")
            amount = reading.value
    if amount < 0:
        raise _Skip("金额不能是负数")
    if amount == 0:
        return Decimal(0) if zero else None
    if amount >= MAX_MONEY:
        raise _Skip("金额太大了")
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def read_when(value: Any, now: datetime, *, past: bool) -> tuple[datetime, bool]:
    """(aware local time, has a clock time) from a date cell, an Excel serial or date text."""
    tz = now.tzinfo
    if isinstance(value, bool):
        raise _Skip("看不懂的日期")
    if isinstance(value, datetime):
        has_time = value.time() != time(0)
        return (value if value.tzinfo else value.replace(tzinfo=tz)), has_time
    if isinstance(value, date):
        return datetime.combine(value, time(0), tz), False
    if isinstance(value, time):
        raise _Skip("只有时间没有日期")
    text = _text(value)
    serial: float | None = None
    if isinstance(value, int | float):
        serial = float(value)
    elif re.fullmatch(r"\d{5}(?:\.\d+)?", text):
        serial = float(text)
    if serial is not None:
        if not _SERIAL[0] <= serial <= _SERIAL[1]:
            raise _Skip("看不懂的日期")
        moment = _EXCEL_EPOCH + timedelta(minutes=round(serial * 24 * 60))
        return moment.replace(tzinfo=tz), moment.time() != time(0)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        has_time = ":" in text
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)), has_time
    reading = read_exact(text, now, past=past)
    if reading.problem is not None:
        raise _Skip(reading.problem.reason)
    hit = reading.hit or reading.past
    if hit is None:
        raise _Skip("看不懂的日期")
    return hit.when, hit.has_time


def read_grade(value: Any, grades: Sequence[str] = GRADES) -> str:
    """One of the chat's grades (A, B, C or D unless configured; a 级/类 after it is fine)."""
    grade = unicodedata.normalize("NFKC", _text(value)).upper().removesuffix("级").strip()
    grade = grade.removesuffix("类").removeprefix("客户").strip()
    if grade not in grades:
        raise _Skip(f"等级只能是 {'、'.join(grades)}")
    return grade


def split_list(value: Any) -> list[str]:
    """Words of a list cell (逗号、顿号、分号、斜杠 or new lines between them), in order, once each."""
    words: list[str] = []
    for word in _SPLIT.split(_text(value)):
        word = word.strip().lstrip("#＃").strip()
        if word and word not in words:
            words.append(word)
    return words


# -- the import ----------------------------------------------------------------------------


@dataclass
class _Known:
    """The chat as the import sees it: customers by key (names and aliases), members by name."""

    by_key: dict[str, Customer]
    members: dict[str, list[Member]]
    notes: dict[int, str]
    grades: Sequence[str] = GRADES


def _load(session: Session, chat: Chat, want_notes: bool) -> _Known:
    """Every customer of the chat (deleted ones too), its members, and each customer's last note."""
    customers = list(session.scalars(select(Customer).where(Customer.chat_id == chat.id)))
    by_key: dict[str, Customer] = {}
    for customer in customers:
        for alias in customer.aliases or []:
            by_key.setdefault(normalize_name(alias), customer)
    for customer in customers:  # names win over aliases
        by_key[customer.key] = customer
    members: dict[str, list[Member]] = {}
    for member in session.scalars(select(Member).where(Member.chat_id == chat.id)):
        for name in {fold_person(member.name), fold_person(member.user_id)} - {""}:
            members.setdefault(name, []).append(member)
    notes: dict[int, str] = {}
    if want_notes:
        notes = last_notes(session, chat.id)
    return _Known(by_key, members, notes)


def members_named(session: Session, chat: Chat, name: str) -> list[Member]:
    """The chat's members whose name (or platform id) is ``name``, compared folded."""
    wanted = fold_person(name)
    return [
        m
        for m in session.scalars(select(Member).where(Member.chat_id == chat.id))
        if wanted in (fold_person(m.name), fold_person(m.user_id))
    ]


def last_notes(session: Session, chat_id: int) -> dict[int, str]:
    """customer id → the text of its latest live activity that has one (the 备注 of a book)."""
    rows = session.execute(
        select(Activity.customer_id, Activity.text)
        .where(
            Activity.chat_id == chat_id,
            Activity.customer_id.is_not(None),
            Activity.undone_at.is_(None),
            Activity.text != "",
        )
        .order_by(Activity.id)
    )
    return {cid: text for cid, text in rows if cid is not None}


def find_header(
    sheet: Sheet, overrides: dict[str, str], targets: bool = False, history: bool = False
) -> tuple[int, Mapping]:
    """(0-based row index, mapping) of the sheet's header; BookError when there is none."""
    fallback: tuple[int, Mapping] | None = None
    key = "owner" if targets else "name"
    for index, row in enumerate(sheet.rows[:HEADER_ROWS]):
        mapping = map_headers(row, overrides, targets=targets, history=history)
        if not mapping.has(key):
            continue
        if len(mapping.columns) >= 2:
            return index, mapping
        fallback = fallback or (index, mapping)
    if fallback is not None:
        return fallback
    wanted = (
        "负责人、月份、目标金额"
        if targets
        else "客户名称、时间、内容"
        if history
        else "客户名称（或 公司名称、客户）"
    )
    raise BookError(
        f"工作表“{sheet.name}”前 {HEADER_ROWS} 行里找不到表头：需要一列 {wanted}；"
        "列名不同可用 --map '列名=name' 指定"
    )


def _choose(sheets: list[Sheet], wanted: str | None, overrides: dict[str, str]) -> Sheet:
    """The customer sheet: ``wanted``, else 客户, else the first one with a customer header."""
    if wanted is not None:
        for sheet in sheets:
            if fold_header(sheet.name) == fold_header(wanted):
                return sheet
        names = "、".join(s.name for s in sheets)
        raise BookError(f"--sheet：没有工作表“{wanted}”（有：{names}）")
    for sheet in sheets:
        if sheet.name.strip() == CUSTOMER_SHEET:
            return sheet
    for sheet in sheets:
        try:
            find_header(sheet, overrides)
        except BookError:
            continue
        return sheet
    find_header(sheets[0], overrides)  # raises with the reason
    raise AssertionError("unreachable")


class _Row:
    """One data row being read: its number, cells and the problems found so far."""

    def __init__(self, number: int, cells: list[Any], problems: list[str], sheet: str = "") -> None:
        self.number = number
        self.cells = cells
        self.problems = problems
        self.sheet = sheet  # named in problems of sheets other than the customer sheet

    def raw(self, column: Column) -> Any:
        """The cell of ``column`` (None past the row's end)."""
        return self.cells[column.index] if column.index < len(self.cells) else None

    def problem(self, column: Column | str, value: Any, why: str, then: str) -> None:
        """Record '第 N 行 列“值”：原因，后果'."""
        header = column.header if isinstance(column, Column) else column
        shown = f"“{_shown(value)}”" if value is not None else ""
        where = f"{self.sheet}表" if self.sheet else ""
        self.problems.append(f"{where}第 {self.number} 行 {header}{shown}：{why}，{then}")


def _owner(known: _Known, name: Any) -> Member:
    """The chat member called ``name``; _Skip when unknown or ambiguous."""
    found = known.members.get(fold_person(_text(name)), [])
    if len(found) == 1:
        return found[0]
    if found:
        raise _Skip("群里有两位同名成员，请导入后用 /分配 指定")
    raise _Skip("不是群里已知的成员（他在群里说过话后再导入一次即可补上）")


def _read_row(row: _Row, columns: list[Column], known: _Known, now: datetime) -> dict[str, Any]:
    """field → value for the readable, non-empty cells of a row; problems noted on the row."""
    values: dict[str, Any] = {}
    for column in columns:
        raw = row.raw(column)
        if raw is None or column.field == "name":
            continue
        try:
            values[column.field] = _read_field(column, raw, known, now)
        except _Skip as why:
            then = "未设置负责人" if column.field == "owner" else "已跳过该字段"
            row.problem(column, raw, str(why), then)
    return values


def _read_field(column: Column, raw: Any, known: _Known, now: datetime) -> Any:
    """One cell as the value of its field; _Skip with the reason when it cannot be read."""
    kind = column.field
    if kind == "owner":
        return _owner(known, raw)
    if kind == "stage":
        word = unicodedata.normalize("NFKC", _text(raw)).replace(" ", "")
        stage = parse_stage_name(word) or CRM_STAGES.get(word.removesuffix("阶段"))
        if stage is None:
            if _text(raw) in (Status.OPEN.label, "进行中", "正常"):
                return None
            raise _Skip("看不懂的阶段")
        return stage
    if kind == "grade":
        return read_grade(raw, known.grades)
    if kind in ("aliases", "tags"):
        return split_list(raw) or None
    if kind == "amount":
        return read_money(raw, column.factor)
    if kind == "paid_amount":
        return read_money(raw, column.factor, zero=True)
    if kind == "next_follow_up_at":
        return read_when(raw, now, past=False)
    if kind in ("last_activity_at", "created_at"):
        return read_when(raw, now, past=True)[0]
    room = {"source": _SOURCE_ROOM, "lost_reason": _REASON_ROOM}.get(kind)
    text = _text(raw)
    return text[:room] if room else text


def import_book(
    session: Session,
    chat: Chat,
    sheets: list[Sheet],
    now: datetime,
    *,
    file: str,
    sheet: str | None = None,
    overrides: dict[str, str] | None = None,
    actor: Member | None = None,
    grades: Sequence[str] = GRADES,
) -> ImportReport:
    """Import the book into ``chat`` in the caller's transaction (roll it back for a dry run).

    ``grades`` are the grades a cell may name (config ``book.grades``).
    """
    overrides = overrides or {}
    now = now.astimezone(ZoneInfo(chat.timezone))
    chosen = _choose(sheets, sheet, overrides)
    header_index, mapping = find_header(chosen, overrides)
    target_sheet = next(
        (s for s in sheets if s is not chosen and s.name.strip() == TARGET_SHEET), None
    )
    history_sheet = next(
        (
            s
            for name in HISTORY_SHEETS
            for s in sheets
            if s is not chosen and fold_header(s.name) == fold_header(name)
        ),
        None,
    )
    report = ImportReport(
        file=file,
        sheet=chosen.name,
        header_row=header_index + 1,
        columns=mapping.columns,
        unknown=mapping.unknown,
        ignored=mapping.ignored,
        other_sheets=[
            s.name for s in sheets if s is not chosen and s not in (target_sheet, history_sheet)
        ],
    )
    known = _load(session, chat, mapping.has("note"))
    known.grades = tuple(grades)
    entry_key = f"{IMPORT_ENTRY}{uuid.uuid4().hex}"
    name_column = next(c for c in mapping.columns if c.field == "name")
    seen: dict[str, int] = {}
    created: list[tuple[Customer, str]] = []
    logs: list[tuple[Customer, Changes, str]] = []
    for offset, cells in enumerate(chosen.rows[header_index + 1 :]):
        row = _Row(header_index + 2 + offset, cells, report.problems)
        if all(c is None for c in cells):
            continue
        raw_name = row.raw(name_column)
        name = _text(raw_name) if raw_name is not None else ""
        key = normalize_name(name)
        if not key:
            if name.replace(" ", "").startswith(_TOTAL_ROWS) or any(
                _text(c).replace(" ", "").startswith(_TOTAL_ROWS) for c in cells if c is not None
            ):
                continue  # a 合计 row under the table
            report.skipped += 1
            row.problem(name_column, None, "没有客户名称", "已跳过该行")
            continue
        if name.replace(" ", "") in _TOTAL_ROWS:
            continue
        if len(name) > _NAME_ROOM:
            report.skipped += 1
            row.problem(
                name_column, raw_name, f"客户名称太长（最多 {_NAME_ROOM} 个字）", "已跳过该行"
            )
            continue
        if key in seen:
            report.skipped += 1
            row.problem(name_column, raw_name, f"与第 {seen[key]} 行是同一个客户", "已跳过该行")
            continue
        seen[key] = row.number
        values = _read_row(row, mapping.columns, known, now)
        customer = known.by_key.get(key)
        if customer is not None and customer.deleted_at is not None:
            report.skipped += 1
            row.problem(name_column, raw_name, "该客户已删除（可用 /恢复）", "已跳过该行")
            continue
        if customer is None:
            customer = _new_customer(chat, name, key, values, now, actor)
            known.by_key[key] = customer
            changes = Changes()
            _apply(row, customer, values, known, now, changes, actor, new=True)
            note = values.get("note") or ""
            created.append((customer, note))
            report.created += 1
            continue
        changes = Changes()
        _apply(row, customer, values, known, now, changes, actor, new=False)
        note = values.get("note")
        note_changed = note is not None and note != known.notes.get(customer.id, "")
        if changes or note_changed:
            logs.append((customer, changes, note if note_changed and note else ""))
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()
    if created:
        # Plain executemany, then the ids by key ((chat, key) is unique): an ORM insert with
        # RETURNING of 20,000 rows takes seconds more.
        drafts = [cast(_Draft, customer) for customer, _ in created]
        connection = session.connection()
        connection.execute(insert(cast(Table, Customer.__table__)), [d.columns() for d in drafts])
        rows = connection.execute(
            select(Customer.key, Customer.id).where(Customer.chat_id == chat.id)
        )
        ids = {key: customer_id for key, customer_id in rows}
        for draft in drafts:
            draft.id = ids[draft.key]
    for customer, note in created:
        logs.append((customer, Changes({CREATED: [None, True]}), note))
    if logs:
        session.connection().execute(
            insert(cast(Table, Activity.__table__)),
            [
                {
                    "chat_id": chat.id,
                    "customer_id": customer.id,
                    "customer_name": customer.name,
                    "member_id": actor.id if actor else None,
                    "kind": Kind.IMPORT,
                    "text": note,
                    "changes": dict(changes),
                    "entry_key": entry_key,
                    "created_at": now,
                }
                for customer, changes, note in logs
            ],
        )
    if target_sheet is not None:
        report.has_targets = True
        _import_targets(session, chat, target_sheet, known, now, report)
    if history_sheet is not None:
        report.history_sheet = history_sheet.name
        _import_history(session, chat, history_sheet, known, now, report, entry_key)
    session.flush()
    return report


def _new_customer(
    chat: Chat, name: str, key: str, values: dict[str, Any], now: datetime, actor: Member | None
) -> Customer:
    """A customer at 线索 (已分配 with an owner) before the row's values are applied."""
    owner: Member | None = values.get("owner")
    stage = Stage.ASSIGNED if owner else Stage.LEAD
    draft = _Draft(
        id=None,
        chat_id=chat.id,
        name=name,
        key=key,
        aliases=[],
        tags=[],
        grade="",
        source="",
        lost_reason="",
        paid_amount=Decimal(0),
        owner_id=owner.id if owner else None,
        stage=stage,
        status=Status.OPEN,
        created_at=values.get("created_at") or now,
        stage_entered_at=now,
        assigned_at=now if owner else None,
        assigned_by_id=actor.id if owner and actor else None,
        next_follow_up_has_time=False,
        amount=None,
        last_activity_at=None,
        next_follow_up_at=None,
        deleted_at=None,
        released_at=None,
        released_by_id=None,
    )
    return cast(Customer, draft)


def _apply(
    row: _Row,
    customer: Customer,
    values: dict[str, Any],
    known: _Known,
    now: datetime,
    changes: Changes,
    actor: Member | None,
    *,
    new: bool,
) -> None:
    """Set the row's values on the customer, recording each change."""
    for field_name in ("grade", "source", "lost_reason", "tags", "amount", "paid_amount"):
        if values.get(field_name) is not None:
            changes.set(customer, **{field_name: values[field_name]})
    if values.get("last_activity_at") is not None:
        changes.set(customer, last_activity_at=values["last_activity_at"])
    owner: Member | None = values.get("owner")
    if owner is not None and customer.owner_id != owner.id:
        changes.set(
            customer,
            owner_id=owner.id,
            assigned_at=now,
            assigned_by_id=actor.id if actor else None,
        )
        if values.get("stage") is None and customer.stage == Stage.LEAD:
            move_stage(customer, Stage.ASSIGNED, now, changes)
    aliases = values.get("aliases")
    if aliases:
        _add_aliases(row, customer, aliases, known, changes)
    stage: Stage | None = values.get("stage")
    if stage is not None:
        if stage in (Stage.SIGNED, Stage.PAID):
            paid_stage = payment_stage(customer.amount, customer.paid_amount)
            if stage == Stage.PAID and paid_stage != Stage.PAID:
                row.problem(FIELD_LABELS["stage"], stage, "回款还没有覆盖金额", "记为已签约")
            stage = paid_stage
        if new:
            customer.stage, customer.status = stage, status_for(stage)
        else:
            move_stage(customer, stage, now, changes)
    follow = values.get("next_follow_up_at")
    if follow is not None:
        if is_closed(customer.stage):
            row.problem(
                FIELD_LABELS["next_follow_up_at"], None, "已成交或输单的客户没有下次跟进", "已忽略"
            )
        else:
            changes.set(customer, next_follow_up_at=follow[0], next_follow_up_has_time=follow[1])


def _add_aliases(
    row: _Row, customer: Customer, aliases: list[str], known: _Known, changes: Changes
) -> None:
    """Add the row's aliases the chat does not use for another customer."""
    current = list(customer.aliases or [])
    have = {normalize_name(a) for a in current} | {customer.key}
    for alias in aliases:
        key = normalize_name(alias)
        if not key or key in have:
            continue
        other = known.by_key.get(key)
        if other is not None and other is not customer:
            why = f"已是客户“{sanitize_user_text(other.name, 20)}”的名称或别名"
            row.problem(FIELD_LABELS["aliases"], alias, why, "未添加")
            continue
        current.append(alias[:_NAME_ROOM])
        have.add(key)
        known.by_key[key] = customer
    changes.set(customer, aliases=current)


def read_month(value: Any) -> str:
    """'2026-12' from a date cell or 2026-12 / 2026/12 / 2026年12月."""
    if isinstance(value, datetime | date):
        return f"{value.year:04d}-{value.month:02d}"
    match = _MONTH.fullmatch(unicodedata.normalize("NFKC", _text(value)))
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise _Skip("月份请写成 2026-12 或 2026年12月")
    return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"


def _import_targets(
    session: Session,
    chat: Chat,
    sheet: Sheet,
    known: _Known,
    now: datetime,
    report: ImportReport,
) -> None:
    """Set the monthly targets of the 目标 sheet (member and month unique)."""
    header_index, mapping = find_header(sheet, {}, targets=True)
    columns = {c.field: c for c in mapping.columns}
    existing = {
        (t.member_id, t.month): t
        for t in session.scalars(select(Target).where(Target.chat_id == chat.id))
    }
    counts = report.targets
    for offset, cells in enumerate(sheet.rows[header_index + 1 :]):
        if all(c is None for c in cells):
            continue
        row = _Row(header_index + 2 + offset, cells, report.problems)
        try:
            raw = {f: row.raw(c) for f, c in columns.items()}
            if any(raw.get(f) is None for f in ("owner", "month", "amount")):
                raise _Skip("负责人、月份、目标金额都要写")
            member = _owner(known, raw["owner"])
            month = read_month(raw["month"])
            amount = read_money(raw["amount"], columns["amount"].factor)
            if amount is None:
                raise _Skip("目标金额要大于零")
        except _Skip as why:
            counts["skipped"] += 1
            report.problems.append(f"目标表第 {row.number} 行：{why}，已跳过该行")
            continue
        target = existing.get((member.id, month))
        if target is None:
            target = Target(
                chat_id=chat.id, member_id=member.id, month=month, amount=amount, created_at=now
            )
            session.add(target)
            existing[(member.id, month)] = target
            counts["created"] += 1
        elif target.amount != amount:
            target.amount = amount
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1


def _minute(at: datetime, tz: ZoneInfo) -> datetime:
    """A moment as local time to the minute: how a sheet shows it, so how rows are matched."""
    return at.astimezone(tz).replace(second=0, microsecond=0, tzinfo=None)


def _kind_and_text(raw_kind: Any, text: str) -> tuple[Kind, str]:
    """The kind a 类型 cell names (export labels or stored words); another word is kept in the
    text of a 跟进 (a CRM's 电话/拜访)."""
    if raw_kind is None:
        return Kind.FOLLOW_UP, text
    word = _text(raw_kind)
    kind = _KINDS.get(word)
    if kind is not None:
        return kind, text
    return Kind.FOLLOW_UP, f"{word}：{text}" if text else word


def _stage_change(raw: Any) -> tuple[Stage, Stage]:
    """(from, to) of a 阶段变化 cell such as 跟进中→已报价."""
    parts = _STAGE_ARROW.split(_text(raw))
    stages = [parse_stage_name(p.strip()) for p in parts]
    if len(stages) != 2 or stages[0] is None or stages[1] is None:
        raise _Skip("请写成 跟进中→已报价")
    return stages[0], stages[1]


def _import_history(
    session: Session,
    chat: Chat,
    sheet: Sheet,
    known: _Known,
    now: datetime,
    report: ImportReport,
    entry_key: str,
) -> None:
    """Add the rows of the 跟进记录 sheet the chat does not have yet, as activities.

    A row is matched on (customer, minute, kind, text) against the chat's activities, counted:
    a sheet with the same line twice keeps both, importing it again adds neither.
    """
    tz = ZoneInfo(chat.timezone)
    header_index, mapping = find_header(sheet, {}, history=True)
    columns = {c.field: c for c in mapping.columns}
    if "at" not in columns:
        report.problems.append(f"{sheet.name}表没有“时间”列：跟进记录未导入")
        return
    have: Counter[tuple[int, datetime, str, str]] = Counter(
        (customer_id, _minute(at, tz), kind, text or "")
        for customer_id, at, kind, text in session.execute(
            select(Activity.customer_id, Activity.created_at, Activity.kind, Activity.text).where(
                Activity.chat_id == chat.id, Activity.customer_id.is_not(None)
            )
        )
        if customer_id is not None
    )
    counts = report.history
    rows: list[dict[str, Any]] = []
    for offset, cells in enumerate(sheet.rows[header_index + 1 :]):
        if all(c is None for c in cells):
            continue
        row = _Row(header_index + 2 + offset, cells, report.problems, sheet.name)
        counts["rows"] += 1
        raw = {f: row.raw(c) for f, c in columns.items()}
        name = _text(raw["name"]) if raw.get("name") is not None else ""
        customer = known.by_key.get(normalize_name(name)) if name else None
        try:
            if customer is None:
                raise _Skip("没有这个客户" if name else "没有客户名称")
            if raw.get("at") is None:
                raise _Skip("没有时间")
            at = read_when(raw["at"], now, past=True)[0]
        except _Skip as why:
            counts["skipped"] += 1
            column = columns["at"] if customer is not None else columns["name"]
            row.problem(column, raw.get(column.field), str(why), "已跳过该行")
            continue
        at = (at + timedelta(microseconds=500_000)).replace(microsecond=0)  # xlsx float noise
        text = _text(raw["text"]) if raw.get("text") is not None else ""
        kind, text = _kind_and_text(raw.get("kind"), text)
        key = (cast(int, customer.id), _minute(at, tz), kind.value, text)
        if have[key] > 0:
            have[key] -= 1
            counts["existing"] += 1
            continue
        if customer.deleted_at is not None:
            counts["skipped"] += 1
            row.problem(columns["name"], name, "该客户已删除（可用 /恢复）", "已跳过该行")
            continue
        activity: dict[str, Any] = {
            "chat_id": chat.id,
            "customer_id": customer.id,
            "customer_name": name[:_NAME_ROOM],
            "member_id": None,
            "kind": kind,
            "text": text,
            "stage_from": None,
            "stage_to": None,
            "amount": None,
            "next_follow_up_at": None,
            "changes": {},
            # One entry per row: /撤销 of an imported row never takes the others with it.
            "entry_key": f"{entry_key}:{len(rows)}",
            "created_at": at,
            "undone_at": at if raw.get("undone") is not None else None,
        }
        for field_name, value in raw.items():
            if value is None or field_name not in (
                "member",
                "stage_change",
                "amount",
                "next_follow_up_at",
            ):
                continue
            column = columns[field_name]
            try:
                if field_name == "member":
                    activity["member_id"] = _owner(known, value).id
                elif field_name == "stage_change":
                    activity["stage_from"], activity["stage_to"] = _stage_change(value)
                elif field_name == "amount":
                    activity["amount"] = read_money(value, column.factor)
                else:
                    activity["next_follow_up_at"] = read_when(value, now, past=False)[0]
            except _Skip as why:
                row.problem(column, value, str(why), "已跳过该字段")
        rows.append(activity)
        counts["added"] += 1
    if rows:
        session.connection().execute(insert(cast(Table, Activity.__table__)), rows)
