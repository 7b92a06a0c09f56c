"""Stages, statuses, activity kinds and command groups are enums: stored values stay the same
strings (no migration), and every word has its Chinese label."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers import registry
from handlers.registry import Group
from models.activity import Activity, Kind
from models.customer import Customer
from models.reports import FOLLOW_UP_KINDS, NEW_CUSTOMER_KINDS
from models.stages import ALL_STAGES, LADDER, Stage, Status, status_for


def test_stored_values_are_the_strings_stored_before() -> None:
    assert [s.value for s in Stage] == list(LADDER) + ["输单"]
    assert list(ALL_STAGES) == list(Stage)
    assert [s.value for s in Status] == ["open", "won", "lost"]
    assert [k.value for k in Kind] == [
        "create",
        "follow_up",
        "stage",
        "assign",
        "payment",
        "won",
        "lost",
        "reminder",
        "alias",
        "grade",
        "tags",
        "undo",
        "claim",
        "release",
        "rename",
        "merge",
        "delete",
        "restore",
        "handover",
        "import",
    ]
    assert [g.value for g in Group] == ["记录", "查看", "管理"]


def test_every_word_has_a_chinese_label() -> None:
    for word in (*Stage, *Status, *Kind, *Group):
        assert word.label and not word.label.isascii(), word
    assert [s.label for s in Status] == ["进行中", "赢单", "输单"]


@pytest.mark.parametrize(
    ("stage", "status"),
    [("线索", Status.OPEN), ("已报价", Status.OPEN), ("已回款", Status.WON), ("输单", Status.LOST)],
)
def test_status_follows_the_stage(stage: str, status: Status) -> None:
    assert status_for(stage) is status


def test_reports_count_kinds_through_one_mapping() -> None:
    assert FOLLOW_UP_KINDS == {Kind.FOLLOW_UP}
    assert NEW_CUSTOMER_KINDS == {Kind.CREATE}
    assert not FOLLOW_UP_KINDS & NEW_CUSTOMER_KINDS


def test_every_command_is_in_a_help_group() -> None:
    assert {cmd.group for cmd in registry.commands()} <= set(Group)


def test_an_unknown_group_fails_when_the_command_is_declared() -> None:
    decorate = registry.command("试试", usage="/试试", summary="-", example="/试试", group="其它")
    with pytest.raises(ValueError):
        decorate(lambda ctx, args: None)
    assert registry.get("试试") is None


def test_chat_stores_the_same_words(chat) -> None:
    chat.send("/跟进 华为 报价已发")
    chat.send("/别名 华为 HW")
    with chat.runtime.sessions() as session:
        customer = session.scalars(select(Customer)).one()
        kinds = list(session.scalars(select(Activity.kind).order_by(Activity.id)))
    assert (customer.stage, customer.status) == ("已报价", "open")
    assert type(customer.status) is str  # read back as stored: a plain string
    assert kinds == ["create", "follow_up", "alias"]


def test_customer_card_names_every_kind_in_chinese(chat) -> None:
    chat.send("/跟进 华为 报价已发")
    chat.send("/别名 华为 HW")
    history = chat.reply("/客户 华为").split("■ 最近记录\n")[1]
    assert "加别名：HW" in history
    assert "alias" not in history
