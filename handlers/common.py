"""Small pieces shared by several command handlers."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from handlers.context import Context
from handlers.format import customer_label, fmt_date, fmt_money
from handlers.registry import CommandError
from models.calendar import calendar_from_settings
from models.customer import Customer
from models.customers import Changes
from models.dates import DateHit, DateProblem, DateReading, read_exact, read_note
from models.money import Approximate, Foreign, Unreadable
from models.parsing import core_name, sanitize_user_text
from models.stages import infer_stage, parse_stage_name

MAX_NAME = 40


def next_follow_up(customer: Customer, tz: tzinfo | None) -> str:
    """The customer's next follow-up, formatted in the chat's time zone, or ''."""
    if customer.next_follow_up_at is None:
        return ""
    local = customer.next_follow_up_at.astimezone(tz)
    return fmt_date(local, customer.next_follow_up_has_time)


def summary_line(ctx: Context, customer: Customer, changes: Changes, prefix: str = "✅") -> str:
    """`✅ 华为｜跟进中 → 已报价｜下次跟进 12月2日(周三)`: every change the command made."""
    parts = [f"{prefix} {customer_label(customer)}"]
    moved = changes.moved()
    parts.append(f"{moved[0]} → {moved[1]}" if moved else customer.stage)
    if "amount" in changes and customer.amount is not None:
        parts.append(f"金额 {fmt_money(customer.amount)}")
    if "next_follow_up_at" in changes:
        due = next_follow_up(customer, ctx.now.tzinfo)
        parts.append(f"下次跟进 {due}" if due else "已清除下次跟进")
    return "｜".join(parts)


def set_follow_up(customer: Customer, hit: DateHit | None, changes: Changes) -> None:
    """Set (or clear, with None) the next follow-up from a parsed date."""
    if hit is None:
        changes.set(customer, next_follow_up_at=None, next_follow_up_has_time=False)
    else:
        changes.set(customer, next_follow_up_at=hit.when, next_follow_up_has_time=hit.has_time)


def read_date(ctx: Context, text: str) -> DateReading:
    """What ``text`` says about the next date, in the chat's calendar; refuses or asks on a problem."""
    reading = read_note(text, ctx.now, calendar_from_settings(ctx.settings.calendar))
    if reading.problem is not None:
        raise date_error(ctx, reading.problem)
    return reading


def date_error(ctx: Context, problem: DateProblem) -> CommandError:
    """The reply to an impossible date (❌ reason) or an ambiguous one (🤔 question), with an example."""
    if problem.kind == "ask":
        example = ctx.command.example
        return CommandError(f"🤔 {problem.reason}\n例如：{example}")
    return ctx.usage(problem.reason)


def passed_note(past: DateHit) -> str:
    """Why a date written in a note did not become the next follow-up."""
    return f"ℹ️ {fmt_date(past.when, past.has_time)} 已经过去，没有设为下次跟进"


def check_new_name(ctx: Context, name: str) -> str:
    """Validate a customer name a user wants to create; returns it cleaned."""
    cleaned = name.strip()
    if not cleaned or not core_name(cleaned):
        raise ctx.usage("请写上客户名称")
    if len(cleaned) > MAX_NAME:
        raise ctx.usage(f"客户名称太长了（最多 {MAX_NAME} 个字）")
    if cleaned[0] in "@＠/" or any(ch in cleaned for ch in "<>\n"):
        raise ctx.usage(f"客户名称“{sanitize_user_text(cleaned, 20)}”里有不能用的字符")
    if parse_stage_name(cleaned) or infer_stage(cleaned) or _has_date(ctx, cleaned):
        raise ctx.usage(
            f"“{sanitize_user_text(cleaned, 20)}”不像客户名称，请把客户名称写在命令后面"
        )
    return cleaned


def _has_date(ctx: Context, text: str) -> bool:
    """True when the whole of ``text`` is a time expression (明天, 上周三, 2月30日), not a name.

    A name may *contain* one: 今日头条, 周六福, 九号公司, 1号店, 客户08号00 are customers.
    """
    return any(read_exact(text, ctx.now, past=past) != DateReading() for past in (False, True))


def start_of_day(now: datetime) -> datetime:
    """Local midnight at the start of ``now``'s day."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def end_of_day(now: datetime) -> datetime:
    """Local midnight at the end of ``now``'s day."""
    return start_of_day(now) + timedelta(days=1)


def amount_problem(ctx: Context, reading: Approximate | Foreign | Unreadable) -> CommandError:
    """The reply to an amount that is not exact: ask (🤔 约数) or refuse (❌), with an example."""
    if isinstance(reading, Approximate):
        example = ctx.command.example
        return CommandError(f"🤔 {reading.reason}\n例如：{example}")
    return ctx.usage(reading.reason)
