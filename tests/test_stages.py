"""Stage ladder, user-typed stage names and stage inference from follow-up notes."""

from __future__ import annotations

import pytest

from models.stages import (
    ALL_STAGES,
    LADDER,
    LOST,
    WON_STAGES,
    infer_stage,
    parse_stage_name,
    stage_index,
    status_for,
)


def test_ladder_constants() -> None:
    assert LADDER == ("线索", "已分配", "跟进中", "已报价", "已签约", "已回款", "售后")
    assert LOST == "输单"
    assert ALL_STAGES == LADDER + ("输单",)
    assert WON_STAGES == frozenset({"已签约", "已回款", "售后"})


@pytest.mark.parametrize(
    ("stage", "index"),
    [
        ("线索", 0),
        ("已分配", 1),
        ("跟进中", 2),
        ("已报价", 3),
        ("已签约", 4),
        ("售后", 6),
        ("输单", -1),
    ],
)
def test_stage_index_is_ladder_position_and_lost_is_minus_one(stage: str, index: int) -> None:
    assert stage_index(stage) == index


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("线索", "open"),
        ("跟进中", "open"),
        ("已报价", "open"),
        ("已签约", "won"),
        ("已回款", "won"),
        ("售后", "won"),
        ("输单", "lost"),
    ],
)
def test_status_for_stage(stage: str, status: str) -> None:
    assert status_for(stage) == status


@pytest.mark.parametrize(
    ("typed", "stage"),
    [
        *[(s, s) for s in ALL_STAGES],
        ("报价", "已报价"),
        ("报过价", "已报价"),
        ("签约", "已签约"),
        ("签单", "已签约"),
        ("成交", "已签约"),
        ("赢单", "已签约"),
        ("回款", "已回款"),
        ("已付款", "已回款"),
        ("到账", "已回款"),
        ("跟进", "跟进中"),
        ("分配", "已分配"),
        ("新线索", "线索"),
        ("交付", "售后"),
        ("丢单", "输单"),
        ("输了", "输单"),
        ("失败", "输单"),
        ("  签单 ", "已签约"),
        ("\u3000报价\u3000", "已报价"),
        ("已报价阶段", "已报价"),
    ],
)
def test_parse_stage_name_accepts_names_and_aliases(typed: str, stage: str) -> None:
    assert parse_stage_name(typed) == stage


@pytest.mark.parametrize("typed", ["", "   ", "华为", "报价单", "下周三", "xx"])
def test_parse_stage_name_rejects_unknown_text(typed: str) -> None:
    assert parse_stage_name(typed) is None


@pytest.mark.parametrize(
    ("note", "stage"),
    [
        ("报价已发", "已报价"),
        ("发了报价", "已报价"),
        ("报价单已发送", "已报价"),
        ("已报价 5万", "已报价"),
        ("报价5.5万 下周三回访", "已报价"),
        ("报了价，客户在考虑", "已报价"),
        ("今天已经报价给客户", "已报价"),
        ("合同签了", "已签约"),
        ("签约了", "已签约"),
        ("已签合同", "已签约"),
        ("签单", "已签约"),
        ("成交了 12万", "已签约"),
        ("款到了", "已回款"),
        ("回款 3万", "已回款"),
        ("回款三万", "已回款"),
        ("已打款", "已回款"),
        ("收到首付款", "已回款"),
        ("到账了", "已回款"),
        ("已交付", "售后"),
        ("进入售后", "售后"),
        ("验收通过", "售后"),
    ],
)
def test_infer_stage_from_completed_facts(note: str, stage: str) -> None:
    assert infer_stage(note) == stage


@pytest.mark.parametrize(
    ("note", "stage"),
    [
        ("报价已发，合同签了", "已签约"),
        ("合同签了，款到了", "已回款"),
        ("款到了，已交付", "售后"),
        ("报价已发，下周签约", "已报价"),
        ("报价已发 客户不签了", "已报价"),
    ],
)
def test_infer_stage_returns_the_furthest_claimed_stage(note: str, stage: str) -> None:
    assert infer_stage(note) == stage


@pytest.mark.parametrize(
    "note",
    [
        "",
        "拜访了客户，聊得不错",
        "还没报价",
        "未报价",
        "没签",
        "不签了",
        "合同还没签",
        "准备报价",
        "打算报价",
        "计划下周报价",
        "下周报价",
        "要报价",
        "客户要报价",
        "等回款",
        "催回款",
        "未到账",
        "预计月底到账",
        "签约了吗",
        "报价发了没",
        "报价发了？",
        "已签收快递",
        "交付时间待定",
    ],
)
def test_infer_stage_ignores_negation_intent_and_questions(note: str) -> None:
    assert infer_stage(note) is None


@pytest.mark.parametrize(
    "note", ["输了", "丢单了", "客户选了别家，输单", "新线索", "已分配给小王", "跟进中"]
)
def test_infer_stage_never_returns_lost_or_early_stages(note: str) -> None:
    assert infer_stage(note) is None
