"""The harness itself talks to the real pipeline."""

from models import Customer, Inbox, Outbox


def test_follow_up_round_trip_stores_customer_and_reply(chat):
    replies = chat.send("/跟进 客户A 报价已发 明天回访")
    assert replies == [
        "🆕 新客户 客户A 已建档，负责人 @张三\n✅ 客户A｜跟进中 → 已报价｜下次跟进 11月28日(周六)"
    ]
    assert chat.mentions() == ["张三"]
    customer = chat.customer("客户A")
    assert customer.stage == "已报价"
    assert chat.count(Customer) == 1
    assert chat.count(Inbox) == 1
    assert chat.count(Outbox) == 1
