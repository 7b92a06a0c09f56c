"""How a member's leave (/请假, member.away_until) is shown; the rule is ``models.reports.is_away``.

Kept apart from the /请假 command module so the jobs and /分配 can use it without importing a
command (commands register in import order, which is /帮助's order).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from handlers.format import fmt_date, member_label
from models import reports
from models.member import Member


def last_day_away(until: datetime, tz: tzinfo | None) -> str:
    """'12月5日(周六)' for leave ending at midnight, else the end with its time."""
    local = until.astimezone(tz)
    if local.time() == time(0, 0):
        return fmt_date(local.date() - timedelta(days=1))
    return fmt_date(local, has_time=True)


def away_note(member: Member, now: datetime) -> str:
    """'⚠️ 李四 请假到 12月5日(周六)，期间不会提醒 TA 跟进', or '' when the member is here."""
    if member.away_until is None or not reports.is_away(member, now):
        return ""
    until = last_day_away(member.away_until, now.tzinfo)
    return f"⚠️ {member_label(member)} 请假到 {until}，期间不会提醒 TA 跟进"
